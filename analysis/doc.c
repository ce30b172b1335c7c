/* doc.c - the document model of doc.h: markdown or HTML from the same calls. */
#include "doc.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define IS_HTML(d) ((d)->kind == QA_DOC_HTML)

void qa_html_text(FILE *out, const char *s) {
  for (; s && *s; s++) {
    unsigned char c = (unsigned char)*s;
    switch (c) {
      case '&': fputs("&amp;", out); break;
      case '<': fputs("&lt;", out); break;
      case '>': fputs("&gt;", out); break;
      case '"': fputs("&quot;", out); break;
      case '\'': fputs("&#39;", out); break;
      default:
        if (c >= 0x20 || c == '\n' || c == '\t') fputc(c, out);
    }
  }
}

void doc_text(qa_doc *d, const char *s) {
  if (IS_HTML(d))
    qa_html_text(d->out, s);
  else
    qa_md_text(d->out, s);
}

static void vtextf(qa_doc *d, const char *fmt, va_list ap) {
  char buf[2048];
  vsnprintf(buf, sizeof buf, fmt, ap);
  doc_text(d, buf);
}

void doc_textf(qa_doc *d, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vtextf(d, fmt, ap);
  va_end(ap);
}

void doc_heading(qa_doc *d, int level, const char *id, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  if (IS_HTML(d)) {
    fprintf(d->out, "<h%d", level);
    if (id) fprintf(d->out, " id=\"%s\"", id);
    fputc('>', d->out);
  } else {
    for (int i = 0; i < level; i++) fputc('#', d->out);
    fputc(' ', d->out);
  }
  vtextf(d, fmt, ap);
  va_end(ap);
  if (IS_HTML(d))
    fprintf(d->out, "</h%d>\n", level);
  else
    fputs("\n\n", d->out);
}

void doc_para_begin(qa_doc *d) {
  if (IS_HTML(d)) fputs("<p>", d->out);
}

void doc_para_end(qa_doc *d) { fputs(IS_HTML(d) ? "</p>\n" : "\n\n", d->out); }

void doc_para(qa_doc *d, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  doc_para_begin(d);
  vtextf(d, fmt, ap);
  doc_para_end(d);
  va_end(ap);
}

void doc_value(qa_doc *d, const char *s) {
  if (s && *s)
    doc_text(d, s);
  else
    doc_text(d, QA_DASH);
}

void doc_strong(qa_doc *d, const char *s) {
  fputs(IS_HTML(d) ? "<strong>" : "**", d->out);
  doc_text(d, s);
  fputs(IS_HTML(d) ? "</strong>" : "**", d->out);
}

void doc_code(qa_doc *d, const char *s) {
  if (!s || !*s) {
    doc_text(d, QA_DASH);
    return;
  }
  fputs(IS_HTML(d) ? "<code>" : "`", d->out);
  doc_text(d, s);
  fputs(IS_HTML(d) ? "</code>" : "`", d->out);
}

void doc_list_begin(qa_doc *d, int ordered, const char *id) {
  d->list_n = 0;
  if (!IS_HTML(d)) return;
  fputs(ordered ? "<ol" : "<ul", d->out);
  if (id) fprintf(d->out, " id=\"%s\"", id);
  fputs(">\n", d->out);
}

void doc_item_begin(qa_doc *d, int ordered) {
  d->list_n++;
  if (IS_HTML(d))
    fputs("<li>", d->out);
  else if (ordered)
    fprintf(d->out, "%d. ", d->list_n);
  else
    fputs("- ", d->out);
}

void doc_item_end(qa_doc *d) { fputs(IS_HTML(d) ? "</li>\n" : "\n", d->out); }

void doc_list_end(qa_doc *d, int ordered) {
  if (IS_HTML(d))
    fputs(ordered ? "</ol>\n" : "</ul>\n", d->out);
  else
    fputs("\n", d->out);
}

void doc_table_begin(qa_doc *d, const char *id, int n, const char *const *heads, const char *align) {
  snprintf(d->align, sizeof d->align, "%s", align);
  if (IS_HTML(d)) {
    fputs("<div class=\"scroll\"><table", d->out);
    if (id) fprintf(d->out, " id=\"%s\"", id);
    fputs(">\n<thead><tr>", d->out);
    for (int i = 0; i < n; i++) {
      fputs(align[i] == 'r' ? "<th class=\"num\">" : "<th>", d->out);
      doc_text(d, heads[i]);
      fputs("</th>", d->out);
    }
    fputs("</tr></thead>\n<tbody>\n", d->out);
    return;
  }
  fputs("|", d->out);
  for (int i = 0; i < n; i++) {
    if (heads[i][0]) fputc(' ', d->out);
    doc_text(d, heads[i]);
    fputs(" |", d->out);
  }
  fputs("\n|", d->out);
  for (int i = 0; i < n; i++) fputs(align[i] == 'r' ? "---:|" : "---|", d->out);
  fputs("\n", d->out);
}

void doc_row_begin(qa_doc *d) {
  d->col = 0;
  fputs(IS_HTML(d) ? "<tr>" : "|", d->out);
}

/* "<td" with the column's class; the caller closes the tag */
static void td_open(qa_doc *d, const char *cls) {
  int num = d->col < (int)sizeof d->align && d->col < (int)strlen(d->align) && d->align[d->col] == 'r';
  d->col++;
  if (num || cls) fprintf(d->out, "<td class=\"%s%s%s\"", num ? "num" : "", num && cls ? " " : "", cls ? cls : "");
  else fputs("<td", d->out);
}

void doc_cell_begin(qa_doc *d) {
  if (IS_HTML(d)) {
    td_open(d, NULL);
    fputc('>', d->out);
  } else {
    fputc(' ', d->out);
  }
}
void doc_cell_end(qa_doc *d) { fputs(IS_HTML(d) ? "</td>" : " |", d->out); }
void doc_row_end(qa_doc *d) { fputs(IS_HTML(d) ? "</tr>\n" : "\n", d->out); }

void doc_cell(qa_doc *d, const char *s) {
  if (IS_HTML(d) && (!s || !*s || strcmp(s, QA_DASH) == 0)) {
    td_open(d, "na");
    fputs(" title=\"not measured\">" QA_DASH "</td>", d->out);
    return;
  }
  doc_cell_begin(d);
  doc_value(d, s);
  doc_cell_end(d);
}

void doc_cellf(qa_doc *d, const char *fmt, ...) {
  char buf[2048];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  doc_cell(d, buf);
}

void doc_cell_status(qa_doc *d, const char *status) {
  if (!IS_HTML(d)) {
    doc_cell(d, status);
    return;
  }
  td_open(d, "bad");
  fputc('>', d->out);
  doc_text(d, status);
  fputs("</td>", d->out);
}

void doc_table_end(qa_doc *d) { fputs(IS_HTML(d) ? "</tbody></table></div>\n" : "\n", d->out); }

void doc_group_id(const qa_analysis *a, int g, char *buf, size_t cap) {
  if (a->groups[g].tp != 1)
    snprintf(buf, cap, "b%d-tp%d", a->groups[g].batch, a->groups[g].tp);
  else
    snprintf(buf, cap, "b%d", a->groups[g].batch);
}
