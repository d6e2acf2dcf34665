"""Loading: a department's files (or API pages) of a day into `staging`, with nothing lost.

The contract of each feed (`contracts/*.yml`, read by `contracts`) says what a delivery holds.
`ingest` finds the day's files in the landing folder (`landing`) or pulls them through the bounded
API client (`feed_client`), then `loader` streams them (`readers`: CSV, JSON lines, xlsx,
compressed, any declared encoding), checks every field (`columnar`: column-wise with Arrow over
canonical rows; `parsers`: the reference parser of each field, which also names the rule a value
breaks; `column_types`: each contract column type once, with its PostgreSQL type, parser, canonical
shape and other forms), pseudonymises people (`identity`: GB 11643 ID numbers and keyed HMAC person
keys) and writes the rows, the quarantine and the ledger in one transaction per feed-day (COPY in
text format: Arrow's lines for the fast path's rows, psycopg's `write_row` for the row parser's).
`owner_functions` are the narrow functions, run as `load_owner`, through which a load changes what
is already written.
"""
