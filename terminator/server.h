/*
 * server.h - the running daemon: workers, the port-80 listener, signals,
 * reload and graceful shutdown, all driven from the main thread's event loop.
 */
#ifndef TLSGATE_SERVER_H
#define TLSGATE_SERVER_H

struct config;

/*
 * Serve cfg until SIGTERM or SIGINT (takes ownership of cfg). When started
 * from a file (cfg->path set), SIGHUP re-reads it; otherwise SIGHUP reloads
 * the certificates named by the flags. Returns the process exit code.
 */
int	server_run(struct config *cfg);

#endif
