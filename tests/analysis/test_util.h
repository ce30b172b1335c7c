/* test_util.h - helpers for the analysis tests: a scratch directory, running
 * qsweep-analyze as a child process and reading what it wrote. */
#ifndef QA_TEST_UTIL_H
#define QA_TEST_UTIL_H

/* A fresh directory under /tmp, removed at exit; "DIR/name" in one of 8 rotating
 * buffers: copy a path that must outlive later calls. */
const char *qa_tpath(const char *name);
/* Run "EXE ARGS" through the shell; stdout and stderr are captured into *out and *err
 * (malloc'd, NUL-terminated; pass NULL to drop). Returns the exit status, or -1. */
int qa_run(const char *exe, const char *args, char **out, char **err);
/* A whole file as a string (NULL if unreadable). */
char *qa_slurp(const char *path);
/* The text between the first line starting with `heading` and the next "#" heading
 * (malloc'd, "" if absent). */
char *qa_section(const char *text, const char *heading);
int qa_contains(const char *hay, const char *needle);
/* Number of lines of text. */
int qa_count_lines(const char *text);

#endif
