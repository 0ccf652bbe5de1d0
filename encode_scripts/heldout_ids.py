"""Print the ids of the training-corpus documents held out as dev sets (never trained on).

SQuAD v1.1 train: articles 400-441 (the SQuAD dev set every choice is made on).
multilingual-qa: articles whose number is 7 mod 20 in every set (the multilingual dev set).
Ids are ``<set>-<article>-<paragraph>`` (SQuAD: ``squad-<article>-<paragraph>``).

    python encode_scripts/heldout_ids.py ../shared/train > heldout_ids.txt
"""
import json
import sys
from pathlib import Path


def is_heldout(doc_id: str) -> bool:
    parts = doc_id.split("-")
    if parts[0] == "squad" and len(parts) == 3:
        return int(parts[1]) >= 400
    if len(parts) >= 4 and parts[-2].isdigit():  # multilingual-qa: <set...>-<lang>-<article>-<paragraph>
        return int(parts[-2]) % 20 == 7
    return False


def main(train_dir: str) -> None:
    root = Path(train_dir)
    for corpus in sorted([root / "squad-v1.1" / "corpus.jsonl", *root.glob("multilingual-qa/*/*/corpus.jsonl")]):
        with corpus.open(encoding="utf-8") as lines:
            for line in lines:
                doc_id = json.loads(line)["_id"]
                if is_heldout(doc_id):
                    print(doc_id)


if __name__ == "__main__":
    main(sys.argv[1])
