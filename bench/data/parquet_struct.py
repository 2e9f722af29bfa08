"""Why `metadata` is a JSON string and not a Parquet struct (docs/parquet.md): how duckdb, polars and pyarrow
read two shards whose struct `metadata` differs, as our metadata differs between documents and steps.

    pip install --target /tmp/colcheck duckdb polars
    PYTHONPATH=/tmp/colcheck python bench/data/parquet_struct.py /tmp/parquet-struct

Writes, per case, two one-row shards (FOLDER/CASE/a.parquet, b.parquet) and prints what each reader makes of
them: the keys differ; a key is int64 in one and string in the other; int64 in one and double in the other.
Then: a struct with no field (documents without metadata) written, and a missing key read back.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

CASES = {
    "keys differ": ({"warc_file": "a", "fasttext_hq": 0.5}, {"warc_file": "b", "pii": {"email": 1}}),
    "int vs string": ({"warc_file": "a", "score": 1}, {"warc_file": "b", "score": "high"}),
    "int vs float": ({"warc_file": "a", "score": 1}, {"warc_file": "b", "score": 0.5}),
}

UNION = "union_by_name=true"


def attempt(label: str, read: Any) -> None:
    try:
        print(f"  {label}: reads {read()}")
    except Exception as error:  # each library raises its own kinds
        print(f"  {label}: FAILS {type(error).__name__}: {str(error).splitlines()[0][:150]}")


def main(folder: Path) -> None:
    print("duckdb", duckdb.__version__, "polars", pl.__version__, "pyarrow", pa.__version__)
    for case, metadata in CASES.items():
        where = folder / case.replace(" ", "_")
        where.mkdir(parents=True, exist_ok=True)
        tables = [pa.Table.from_pylist([{"id": str(i), "metadata": m}]) for i, m in enumerate(metadata)]
        for name, table in zip(("a", "b"), tables):
            pq.write_table(table, where / f"{name}.parquet")
        files = f"{where}/*.parquet"
        print(f"\n{case}: {tables[0].schema.field('metadata').type} | {tables[1].schema.field('metadata').type}")
        attempt("duckdb", lambda f=files: duckdb.sql(f"select metadata from read_parquet('{f}')").fetchall())
        attempt(UNION, lambda f=files: duckdb.sql(f"select metadata from read_parquet('{f}', {UNION})").fetchall())
        attempt("polars read_parquet", lambda f=files: pl.read_parquet(f)["metadata"].to_list())
        options = pl.ScanCastOptions(missing_struct_fields="insert", extra_struct_fields="ignore")
        attempt(
            "polars insert/ignore",
            lambda f=files, o=options: pl.scan_parquet(f, cast_options=o).collect()["metadata"].to_list(),
        )
        for promote in ("default", "permissive"):
            attempt(
                f"pyarrow {promote}",
                lambda t=tables, p=promote: pa.concat_tables(t, promote_options=p)["metadata"].to_pylist(),
            )
    attempt(
        "\nno metadata at all",
        lambda: pq.write_table(pa.Table.from_pylist([{"metadata": {}}]), folder / "empty.parquet"),
    )
    print(
        "[{'a': 1}, {'b': 'x'}] reads back", pa.Table.from_pylist([{"m": {"a": 1}}, {"m": {"b": "x"}}])["m"].to_pylist()
    )


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/parquet-struct"))
