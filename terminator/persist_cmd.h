/*
 * persist_cmd.h - `tlsgate persist-record NAME`: the dns-persist-01 TXT
 * record (acme_persist.h) that lets this node's ACME account validate NAME
 * at the configured CA, for an operator to publish by hand. A command: one
 * thread, no daemon; it reads the account URL from the store and, unless
 * told the issuer domain name, asks the CA's directory for it.
 */
#ifndef TLSGATE_PERSIST_CMD_H
#define TLSGATE_PERSIST_CMD_H

struct config;

/* argv: NAME [--issuer DOMAIN] [--value] --config FILE (any order after
 * NAME). Prints the record (or, with --value, its value alone); returns
 * the exit code: 0, 1 on an error (said on stderr), 2 on a usage error. */
int	persist_cmd(int argc, char **argv);

#endif
