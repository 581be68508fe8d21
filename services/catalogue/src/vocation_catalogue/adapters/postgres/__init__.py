"""PostgreSQL: one repository per aggregate, the unit of work binding them to one transaction, and
the queries of the HTTP API (search)."""
