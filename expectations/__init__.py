"""Great Expectations checks for every hand-over: suites as data, one runner over GX Core 1.x.

- `suites/<layer>/<table>.yaml`: the expectations (format in `expectations.spec`);
- `expectations.runner`: `validate_table`, `build_data_docs`, `load_suite`, `list_suites`;
- `expectations.gx_runner`: the only module that calls Great Expectations.
"""

__all__: list[str] = []
