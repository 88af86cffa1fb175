"""SQL on FHIR v2 ViewDefinition runner: a Python reference evaluator and a compiler to SQL in
each backend's dialect. Loading resources and running compiled views is backend code, beside each
engine (`warehouse.engines.duckdb_views`, `warehouse.engines.postgresql_views`; Spark's in `spark`).

    evaluate(view, resources) -> pa.Table             # reference evaluator, per resource
    compile_view(view, dialect="duckdb") -> str        # one SQL query over <schema>.fhir_<Type>; or "postgresql"
    run_suite(directory, engine="duckdb") -> dict      # conformance results (suite.to_report: the suite's format)
    benchmark(view, resources) -> dict                 # rows/second: reference, duckdb, fhirpathpy

Both engines share the parser (`parser`), the validated view model (`model`) and static typing
(`inference`), so they resolve choice types, comparisons and errors the same way.
"""

from warehouse.viewdef.bench import benchmark
from warehouse.viewdef.errors import NotCompilable, ViewDefinitionError
from warehouse.viewdef.model import parse_view
from warehouse.viewdef.parser import parse as parse_fhirpath
from warehouse.viewdef.reference import evaluate
from warehouse.viewdef.sql_view import compile_view
from warehouse.viewdef.suite import run_suite

__all__ = ["evaluate", "compile_view", "run_suite", "benchmark",
           "parse_view", "parse_fhirpath", "ViewDefinitionError", "NotCompilable"]
