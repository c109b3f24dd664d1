
/*
 * sessionctl: the administration and test tool of ngx_http_session_module.
 *
 * Creates, shows, lists and revokes sessions in Redis with the same record
 * layout and Lua scripts as the nginx module (session_store.h), and manages
 * key files (session_core.h).  A command line tool: synchronous hiredis,
 * plain stdio.  The raw session token is never printed or stored, except
 * as part of the cookie value printed by "create".
 *
 * docs/sessionctl.md is the manual; keep the two in step.
 */

#include "sessionctl.h"


int
main(int argc, char **argv)
{
    int         rc;
    sctl_ctx_t  ctx;

    memset(&ctx, 0, sizeof(sctl_ctx_t));

    rc = sctl_parse_args(&ctx, argc, argv);

    if (rc == SCTL_HELP) {
        return fflush(stdout) == 0 ? SCTL_OK : SCTL_RUNTIME;
    }

    if (rc != SCTL_OK) {
        return rc;
    }

    if (sc_init() != SC_OK) {
        sctl_error("cannot initialise libsodium");
        return SCTL_RUNTIME;
    }

    rc = ctx.cmd->handler(&ctx);

    if (ctx.keyring_loaded) {
        sc_keyring_wipe(&ctx.keyring);
    }

    if (ctx.redis) {
        redisFree(ctx.redis);
    }

    if (ctx.cluster) {
        sctl_cluster_free(ctx.cluster);
    }

    if (fflush(stdout) != 0 || ferror(stdout)) {
        sctl_error("standard output: %s", strerror(errno));
        return SCTL_RUNTIME;
    }

    return rc;
}
