"""Times datatrove's MinhashDedupSignature on documents; run inside datatrove's venv.

    python datatrove_minhash_side.py DOCS.jsonl OUT_FOLDER
Prints one JSON line: documents and seconds. Part of bench/data/dedup_signatures.py.
"""

import json
import sys
import time

from datatrove.data import Document
from datatrove.pipeline.dedup.minhash import MinhashConfig, MinhashDedupSignature

docs = [
    Document(text=json.loads(line)["text"], id=str(i)) for i, line in enumerate(open(sys.argv[1], encoding="utf-8"))
]
step = MinhashDedupSignature(output_folder=sys.argv[2], config=MinhashConfig())  # FineWeb's: 5-grams, 14 x 8
start = time.perf_counter()
step.run(iter(docs), rank=0, world_size=1)
print(json.dumps({"documents": len(docs), "seconds": time.perf_counter() - start}))
