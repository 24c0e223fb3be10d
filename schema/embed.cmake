# Turn schema/index.sql into a C file defining ep_schema_sql[]. Comments and
# runs of whitespace are removed: SQLite stores each CREATE statement's text
# and tokenizes it again every time a reader opens an index, so every byte
# here is paid on every open. (The schema has no string literals that could
# contain "--".)
file(READ ${IN} sql)
string(REGEX REPLACE "--[^\n]*" "" sql "${sql}")
string(REGEX REPLACE "[ \t\n]+" " " sql "${sql}")
string(REGEX REPLACE " ?([(),;]) ?" "\\1" sql "${sql}")
string(STRIP "${sql}" sql)
string(REPLACE "\\" "\\\\" sql "${sql}")
string(REPLACE "\"" "\\\"" sql "${sql}")
file(WRITE ${OUT} "/* Generated from schema/index.sql; do not edit. */\n"
  "extern const char ep_schema_sql[];\n"
  "const char ep_schema_sql[] =\n\"${sql}\";\n")
