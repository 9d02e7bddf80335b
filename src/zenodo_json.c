/*
 * zenodo_json.c — .zenodo.json, the deposit metadata Zenodo reads from a release.
 */
#include "release_text.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------------------------------- */
/* .zenodo.json */

static void html_escape(mtp_strbuf *sb, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        switch (s[i]) {
        case '&':
            mtp_sb_puts(sb, "&amp;");
            break;
        case '<':
            mtp_sb_puts(sb, "&lt;");
            break;
        case '>':
            mtp_sb_puts(sb, "&gt;");
            break;
        case '"':
            mtp_sb_puts(sb, "&quot;");
            break;
        case '\n':
            mtp_sb_puts(sb, " ");
            break;
        default:
            mtp_sb_append(sb, &s[i], 1);
            break;
        }
    }
}

/* The description as HTML: one <p> per paragraph (paragraphs end at blank lines). */
static void description_html(mtp_strbuf *sb, const char *text)
{
    const char *p = text;
    while (*p != '\0') {
        while (*p == '\n' || *p == ' ')
            p++;
        if (*p == '\0')
            break;
        const char *end = strstr(p, "\n\n");
        if (end == NULL)
            end = p + strlen(p);
        size_t n = (size_t)(end - p);
        while (n > 0 && (p[n - 1] == '\n' || p[n - 1] == ' '))
            n--;
        mtp_sb_puts(sb, "<p>");
        html_escape(sb, p, n);
        mtp_sb_puts(sb, "</p>");
        p = end;
    }
}

int mtp_zenodo_json_build(mtp_strbuf *sb, const mtp_config *cfg)
{
    bool bad = false;
    const mtp_release *rel = &cfg->release;
    json_t *root = json_object();
    mtp_jset(root, "title", json_string(rel->title), &bad);
    mtp_jset(root, "upload_type", json_string("dataset"), &bad);
    mtp_strbuf html = {0};
    description_html(&html, rel->description);
    if (html.failed)
        bad = true;
    mtp_jset(root, "description", json_string(html.data ? html.data : ""), &bad);
    free(html.data);

    json_t *creators = json_array();
    for (int i = 0; i < rel->ncreators; i++) {
        const mtp_person *p = &rel->creators[i];
        json_t *o = json_object();
        mtp_jset(o, "name", json_string(p->name), &bad);
        if (p->affiliation[0] != '\0')
            mtp_jset(o, "affiliation", json_string(p->affiliation), &bad);
        if (p->orcid[0] != '\0')
            mtp_jset(o, "orcid", json_string(mtp_orcid_bare(p->orcid)), &bad);
        mtp_jpush(creators, o, &bad);
    }
    mtp_jset(root, "creators", creators, &bad);

    char license[MTP_NAME_MAX];
    size_t i = 0;
    for (; rel->license[i] != '\0' && i + 1 < sizeof license; i++)
        license[i] =
            (char)(rel->license[i] >= 'A' && rel->license[i] <= 'Z' ? rel->license[i] - 'A' + 'a'
                                                                    : rel->license[i]);
    license[i] = '\0';
    mtp_jset(root, "license", json_string(license), &bad);
    mtp_jset(root, "keywords", mtp_jstrings(rel->keywords, rel->nkeywords, &bad), &bad);
    mtp_jset(root, "version", json_string(rel->version), &bad);
    if (rel->date[0] != '\0')
        mtp_jset(root, "publication_date", json_string(rel->date), &bad);

    json_t *related = json_array();
    int ndoi = 0;
    for (int c = 0; c < rel->ncitations; c++) {
        const mtp_citation *cit = &rel->citations[c];
        if (cit->doi[0] == '\0')
            continue;
        json_t *o = json_object();
        mtp_jset(o, "identifier", json_string(mtp_doi_bare(cit->doi)), &bad);
        mtp_jset(o, "relation", json_string(ndoi == 0 ? "isSupplementTo" : "cites"), &bad);
        mtp_jset(o, "scheme", json_string("doi"), &bad);
        mtp_jpush(related, o, &bad);
        ndoi++;
    }
    if (ndoi > 0)
        mtp_jset(root, "related_identifiers", related, &bad);
    else
        json_decref(related);

    json_t *refs = json_array();
    for (int c = 0; c < rel->ncitations; c++)
        mtp_jpush(refs, json_string(rel->citations[c].text), &bad);
    mtp_jset(root, "references", refs, &bad);
    if (!bad)
        mtp_json_to_sb(root, sb);
    json_decref(root);
    return bad ? MTP_ENOMEM : 0;
}
