
/*
 * The old name of ngx_http_session.h, kept while branches that include it
 * are merged; new files include ngx_http_session.h.
 */

#include "ngx_http_session.h"
