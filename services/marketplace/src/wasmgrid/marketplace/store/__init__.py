"""PostgreSQL persistence of the registry (asyncpg, ``$n`` parameters only), one module
per aggregate.

Each function runs on the connection or pool it is given, so a use case composes several
aggregates in one transaction (:meth:`database.Database.transaction`), and returns
records (:mod:`wasmgrid.marketplace.records`), never driver rows. The schema is made by
the migrations alone (``migrations/``, applied by :meth:`database.Database.open`).
"""
