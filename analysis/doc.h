/* doc.h - one document model for the markdown and HTML reports (analysis-internal).
 *
 * The report's sections are written once, against these calls; a qa_doc of kind
 * QA_DOC_MD prints markdown, one of kind QA_DOC_HTML prints HTML with a stable id on
 * every heading and table. Text passed to doc_text / doc_textf is escaped for the
 * kind (markdown: '|' and markup characters; HTML: entities). */
#ifndef QA_DOC_H
#define QA_DOC_H

#include <stdio.h>

#include "analysis.h"

typedef enum { QA_DOC_MD, QA_DOC_HTML } qa_doc_kind;

/* Where in the report a writer may put figures (HTML: inline SVG; markdown: links). */
typedef enum {
  QA_FIG_BATCH_SCALING, /* after the method analysis: latency / throughput vs batch */
  QA_FIG_GROUP,         /* in each batch size's section, after its speedup table */
  QA_FIG_SUMMARY,       /* after the architecture summary: memory, fidelity, params */
  QA_FIG_ROOFLINE,      /* in the roofline section, after its tables */
  QA_FIG_END            /* before the notes */
} qa_fig_place;

typedef struct qa_doc qa_doc;
struct qa_doc {
  FILE *out;
  qa_doc_kind kind;
  /* figures at `place` (group: index into a->groups, else -1); NULL: none */
  void (*figures)(qa_doc *d, const qa_analysis *a, qa_fig_place place, int group);
  const void *ctx; /* for figures() */
  int list_n;      /* items so far in an ordered list */
  char align[64];  /* the open table's column alignments ('l', 'r'), HTML */
  int col;         /* the next cell's column in the open table's row */
};

/* Headings: level 1..3; id (HTML) may be NULL. */
void doc_heading(qa_doc *d, int level, const char *id, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void doc_para_begin(qa_doc *d);
void doc_para_end(qa_doc *d);
/* A whole paragraph of plain text. */
void doc_para(qa_doc *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void doc_text(qa_doc *d, const char *s);
void doc_textf(qa_doc *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* s, or the dash where it is empty */
void doc_value(qa_doc *d, const char *s);
void doc_strong(qa_doc *d, const char *s);
/* s as inline code, or the dash where it is empty */
void doc_code(qa_doc *d, const char *s);

/* Lists: ordered (1., 2., ...) or not; id (HTML) may be NULL. */
void doc_list_begin(qa_doc *d, int ordered, const char *id);
void doc_item_begin(qa_doc *d, int ordered);
void doc_item_end(qa_doc *d);
void doc_list_end(qa_doc *d, int ordered);

/* Tables: n columns with their headings; align[i] 'l' or 'r'. */
void doc_table_begin(qa_doc *d, const char *id, int n, const char *const *heads, const char *align);
void doc_row_begin(qa_doc *d);
void doc_cell_begin(qa_doc *d);
void doc_cell_end(qa_doc *d);
/* One cell of text; the dash (not measured) is marked as such in HTML. */
void doc_cell(qa_doc *d, const char *s);
void doc_cellf(qa_doc *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A cell holding a cell's status (failed, oom, ...) rather than a number. */
void doc_cell_status(qa_doc *d, const char *status);
void doc_row_end(qa_doc *d);
void doc_table_end(qa_doc *d);

/* "b8" or "b8-tp2": the id part of a group, for element ids. */
void doc_group_id(const qa_analysis *a, int g, char *buf, size_t cap);
/* HTML text or attribute value with entities (also used by the SVG charts). */
void qa_html_text(FILE *out, const char *s);

/* The sections of the report, in order, into d (report_md.c). */
void qa_report_sections(const qa_analysis *a, qa_doc *d);
/* The comparison's sections (compare.c). */
void qa_compare_sections(const qa_compare *c, qa_doc *d);
/* The HTML page around a body: head with inline CSS, title; tail closes it. */
void qa_html_page_begin(FILE *out, const char *title);
void qa_html_page_end(FILE *out);

#endif
