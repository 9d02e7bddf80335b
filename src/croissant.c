/*
 * croissant.c — croissant.json (Croissant 1.0 metadata of the release).
 */
#include "release_text.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* ---------------------------------------------------------------------------------------- */
/* croissant.json (Croissant 1.0) */

static json_t *croissant_context(bool *bad)
{
    /* The context of the Croissant 1.0 specification, in its order. */
    static const char *const terms[][2] = {
        {"@language", "en"},
        {"@vocab", "https://schema.org/"},
        {"citeAs", "cr:citeAs"},
        {"column", "cr:column"},
        {"conformsTo", "dct:conformsTo"},
        {"cr", "http://mlcommons.org/croissant/"},
        {"rai", "http://mlcommons.org/croissant/RAI/"},
        {"data", NULL},
        {"dataType", NULL},
        {"dct", "http://purl.org/dc/terms/"},
        {"examples", NULL},
        {"extract", "cr:extract"},
        {"field", "cr:field"},
        {"fileProperty", "cr:fileProperty"},
        {"fileObject", "cr:fileObject"},
        {"fileSet", "cr:fileSet"},
        {"format", "cr:format"},
        {"includes", "cr:includes"},
        {"isLiveDataset", "cr:isLiveDataset"},
        {"jsonPath", "cr:jsonPath"},
        {"key", "cr:key"},
        {"md5", "cr:md5"},
        {"parentField", "cr:parentField"},
        {"path", "cr:path"},
        {"recordSet", "cr:recordSet"},
        {"references", "cr:references"},
        {"regex", "cr:regex"},
        {"repeated", "cr:repeated"},
        {"replace", "cr:replace"},
        {"sc", "https://schema.org/"},
        {"separator", "cr:separator"},
        {"source", "cr:source"},
        {"subField", "cr:subField"},
        {"transform", "cr:transform"},
    };
    json_t *ctx = json_object();
    for (size_t i = 0; i < sizeof terms / sizeof terms[0]; i++) {
        if (terms[i][1] != NULL) {
            mtp_jset(ctx, terms[i][0], json_string(terms[i][1]), bad);
            continue;
        }
        /* data and examples are JSON literals; dataType values are vocabulary terms. */
        bool vocab = strcmp(terms[i][0], "dataType") == 0;
        char id[64];
        snprintf(id, sizeof id, "cr:%s", terms[i][0]);
        json_t *o = json_object();
        mtp_jset(o, "@id", json_string(id), bad);
        mtp_jset(o, "@type", json_string(vocab ? "@vocab" : "@json"), bad);
        mtp_jset(ctx, terms[i][0], o, bad);
    }
    return ctx;
}

int mtp_croissant_build(mtp_strbuf *sb, const mtp_config *cfg, const mtp_release_info *info,
                        const mtp_release_files *files)
{
    bool bad = false;
    const mtp_release *rel = &cfg->release;
    json_t *root = json_object();
    mtp_jset(root, "@context", croissant_context(&bad), &bad);
    mtp_jset(root, "@type", json_string("sc:Dataset"), &bad);
    mtp_jset(root, "conformsTo", json_string("http://mlcommons.org/croissant/1.0"), &bad);
    mtp_jset(root, "name", json_string(rel->name), &bad);
    mtp_jset(root, "description", json_string(rel->description), &bad);
    const char *lic = mtp_license_url(rel->license);
    mtp_jset(root, "license", json_string(lic != NULL ? lic : rel->license), &bad);
    mtp_jset(root, "url",
             json_string(rel->url[0] != '\0' ? rel->url : mtp_release_source_url(cfg, info)), &bad);
    if (rel->ncitations > 0)
        mtp_jset(root, "citeAs", json_string(rel->citations[0].text), &bad);
    mtp_jset(root, "version", json_string(rel->version), &bad);
    if (rel->date[0] != '\0')
        mtp_jset(root, "datePublished", json_string(rel->date), &bad);
    json_t *creators = json_array();
    for (int i = 0; i < rel->ncreators; i++) {
        const mtp_person *p = &rel->creators[i];
        json_t *o = json_object();
        mtp_jset(o, "@type", json_string("sc:Person"), &bad);
        mtp_jset(o, "name", json_string(p->name), &bad);
        if (p->affiliation[0] != '\0')
            mtp_jset(o, "affiliation", json_string(p->affiliation), &bad);
        if (p->orcid[0] != '\0') {
            char url[128];
            snprintf(url, sizeof url, "https://orcid.org/%s", mtp_orcid_bare(p->orcid));
            mtp_jset(o, "identifier", json_string(url), &bad);
        }
        mtp_jpush(creators, o, &bad);
    }
    mtp_jset(root, "creator", creators, &bad);
    mtp_jset(root, "keywords", mtp_jstrings(rel->keywords, rel->nkeywords, &bad), &bad);
    json_t *dist = json_array();
    for (int i = 0; i < files->n; i++) {
        const mtp_release_file *e = &files->items[i];
        if (!mtp_has_suffix(e->path, ".h5"))
            continue;
        char size[32];
        snprintf(size, sizeof size, "%llu B", (unsigned long long)e->digest.size);
        json_t *o = json_object();
        mtp_jset(o, "@type", json_string("cr:FileObject"), &bad);
        mtp_jset(o, "@id", json_string(e->path), &bad);
        mtp_jset(o, "name", json_string(e->path), &bad);
        mtp_jset(o, "contentUrl", json_string(e->path), &bad);
        mtp_jset(o, "encodingFormat", json_string("application/x-hdf5"), &bad);
        mtp_jset(o, "contentSize", json_string(size), &bad);
        mtp_jset(o, "sha256", json_string(e->digest.sha256), &bad);
        mtp_jpush(dist, o, &bad);
    }
    mtp_jset(root, "distribution", dist, &bad);
    if (!bad)
        mtp_json_to_sb(root, sb);
    json_decref(root);
    return bad ? MTP_ENOMEM : 0;
}
