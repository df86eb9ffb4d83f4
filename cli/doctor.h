/* `mosync doctor`: read-only probes of the configured Mystore and Ongoing.
 * Each assumption of the API model (../shared/api/MODEL.md: M1-M17, O1-O6)
 * and of access (A1-A3) is reported as confirmed, contradicted or unknown,
 * with the evidence the probes read.  Never writes: only GET requests, each
 * Mystore one taken from the shared request budget (M12). */
#ifndef MO_DOCTOR_H
#define MO_DOCTOR_H

/* `mosync doctor [--json] [--known-weight SKU=<n>g|<n>kg]` with argv after
 * the command name.  Loads the configuration itself.  Returns the exit
 * status: 0 when every check read what it needs and nothing is
 * contradicted, 1 when something is contradicted, 3 when nothing is but a
 * check could not read (an API answered 5xx or not at all), 2 for bad usage
 * or configuration. */
int doctor_main(int argc, char **argv);

#endif
