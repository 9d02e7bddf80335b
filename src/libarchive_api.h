/*
 * libarchive_api.h — private to src/archive.c: the declarations of libarchive's own
 * <archive.h>, which our src/archive.h shadows on the include path (src/ comes before the
 * system directories). Include this with angle brackets so that it is itself found through
 * the include path; #include_next then resumes the search after src/ and reaches the
 * library's header. (GCC and Clang both support #include_next.)
 */
#ifndef MTP_LIBARCHIVE_API_H
#define MTP_LIBARCHIVE_API_H

#include_next <archive.h>
#include <archive_entry.h>

#if ARCHIVE_VERSION_NUMBER < 3002000
#error "libarchive >= 3.2 is needed (gzip:!timestamp, pax restricted)"
#endif

#endif
