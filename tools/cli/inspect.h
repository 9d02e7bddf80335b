/*
 * inspect.h — `mtneuro-pack inspect FILE.h5`: a human summary of one bundle file (or
 * volumes.h5) read with mtp_h5read_summary(): header, dataset tree with storage, and per
 * split the sample count, class balance, region counts and label/region mismatches.
 */
#ifndef MTP_CLI_INSPECT_H
#define MTP_CLI_INSPECT_H

#include <stdbool.h>

/*
 * Print the summary of `path` on stdout (lines of at most 100 columns for names of
 * ordinary length; the layout is fixed, tests compare it line by line). `verbose` prints
 * exact byte counts instead of KiB/MiB. Returns the exit status: 0 printed; 1 the file
 * cannot be read as a bundle ("mtneuro-pack inspect: <message>" on stderr); 2 no path.
 */
int cli_inspect(const char *path, bool verbose);

#endif
