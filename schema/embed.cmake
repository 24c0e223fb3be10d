# Turn schema/index.sql into a C file defining ep_schema_sql[].
file(READ ${IN} sql)
string(REPLACE "\\" "\\\\" sql "${sql}")
string(REPLACE "\"" "\\\"" sql "${sql}")
string(REPLACE "\n" "\\n\"\n\"" sql "${sql}")
file(WRITE ${OUT} "/* Generated from schema/index.sql; do not edit. */\n"
  "extern const char ep_schema_sql[];\n"
  "const char ep_schema_sql[] =\n\"${sql}\";\n")
