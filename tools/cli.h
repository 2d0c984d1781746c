/*
 * cli.h - what the command-line tools (ttlog-view, ttlog-ship) say the same way.
 */
#ifndef TTLOG_TOOLS_CLI_H
#define TTLOG_TOOLS_CLI_H

/* "prog: <message>" and "Try 'prog --help' for more information." on stderr; returns 2,
 * the usage exit status. */
int cli_usage_error(const char *prog, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif /* TTLOG_TOOLS_CLI_H */
