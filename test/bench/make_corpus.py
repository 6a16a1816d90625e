#!/usr/bin/env python3
"""Write a deterministic corpus of short English-like texts for the
embedding benchmark: one text per line, 10-30 words each.

usage: make_corpus.py N OUT
"""
import random
import sys

WORDS = """
the a an of to in for on with at by from about into over after under between
data table row column index query database server session request result value
model vector search text word sentence meaning answer question user customer
order invoice product price shipment warehouse delivery supplier payment refund
account balance report summary review rating comment message email ticket issue
bug release version update feature change commit branch merge build test deploy
city river mountain forest ocean island village bridge road station airport
morning evening night winter summer spring autumn weather rain snow wind sun
doctor patient hospital medicine treatment symptom nurse clinic health care
teacher student school lesson homework exam library book chapter page story
quick slow large small bright dark warm cold new old early late simple complex
important useful strange quiet loud happy sad careful busy ready open closed
run walk read write send receive check compare store find build choose explain
describe improve reduce increase measure count keep lose share return follow
because although while when where which that this these those every many few
some most each other another same different similar better worse best worst
always never often sometimes usually quickly slowly carefully finally again
""".split()


def main():
    n = int(sys.argv[1])
    rng = random.Random(20261122)
    with open(sys.argv[2], "w", encoding="utf-8") as f:
        for _ in range(n):
            k = rng.randint(10, 30)
            words = [rng.choice(WORDS) for _ in range(k)]
            words[0] = words[0].capitalize()
            f.write(" ".join(words) + ".\n")


if __name__ == "__main__":
    main()
