#!/usr/bin/env python3
"""Writes the project's own profiling suites into assets/suites/ (deterministic; rerun to regenerate).

bios.jsonl            synthetic biographies (a stand-in for BiasBios, which is not available here): the first
                      sentence names the occupation, later sentences mention other occupations as distractors.
                      Prompt "{bio}\n\n{name} has the occupation of", emphasis = the first sentence, scored by
                      first-token label accuracy over occupations with distinct first letters.
json_format.jsonl     PASTA's JSON-formatting instruction (template 0, methods.md section 6.1) after each bio;
                      emphasis = the instruction; scored on the generation (JSON validity + prediction).
pronoun_change.jsonl  PASTA's pronoun-changing instruction (template 0); scored on the generation.
"""
import json
import os
import random

OCCUPATIONS = ["architect", "comedian", "dentist", "filmmaker", "journalist", "model", "nurse", "painter",
               "rapper", "surgeon", "teacher"]  # distinct first letters: one first token each, even on tiny vocabs
WOMEN = ["Anna", "Maria", "Lucy", "Sara", "Emma", "Julia", "Nora", "Clara", "Rosa", "Ella"]
MEN = ["Tom", "David", "Peter", "James", "Leo", "Max", "Daniel", "Paul", "Oscar", "Adam"]
CITIES = ["Boston", "Lyon", "Madrid", "Oslo", "Seattle", "Dublin", "Turin", "Denver", "Porto", "Kyoto"]
ACTIVITIES = ["spends weekends hiking", "collects old maps", "plays the cello", "bakes bread every Sunday",
              "volunteers at a shelter", "runs marathons", "grows tomatoes", "reads detective novels"]
RELATIVES = ["brother", "sister", "cousin", "neighbour", "best friend", "father", "mother", "roommate"]

JSON_INSTRUCTION = ("Answer the occupation of {} and generate the answer as json format. Here is an example: "
                    "\\{{'name': , 'occupation': ,\\}}. Now generate the answer:")
PRONOUN_INSTRUCTION = ("For the aforementioned text, substitute 'she' and 'he' with 'they' and generate the "
                       "occupation of {} after changing pronouns:")


def article(word):
    return ("an " if word[0] in "aeiou" else "a ") + word


def main():
    rng = random.Random(20261206)
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "assets", "suites")
    os.makedirs(root, exist_ok=True)
    bios, jsons, prons = [], [], []
    for i in range(40):
        woman = i % 2 == 0
        name = rng.choice(WOMEN if woman else MEN)
        pron, poss = ("She", "Her") if woman else ("He", "His")
        job = OCCUPATIONS[i % len(OCCUPATIONS)]
        others = [o for o in OCCUPATIONS if o != job]
        d1, d2 = rng.sample(others, 2)
        first = f"{name} is {article(job)} based in {rng.choice(CITIES)}."
        bio = (f"{first} {pron} {rng.choice(ACTIVITIES)}. {poss} {rng.choice(RELATIVES)} works as {article(d1)}, "
               f"and {pron.lower()} once met a famous {d2}.")
        bid = f"bio {i}"
        bios.append({"id": bid, "prompt": f"{bio}\n\n{name} has the occupation of", "emphasis": first,
                     "target": job, "labels": OCCUPATIONS, "name": name, "gender": "f" if woman else "m"})
        instr = JSON_INSTRUCTION.format(name)
        jsons.append({"id": bid, "prompt": f"{bio}\n{instr}\n", "emphasis": instr, "target": job,
                      "scorer": "json_format", "name": name})
        instr = PRONOUN_INSTRUCTION.format(name)
        prons.append({"id": bid, "prompt": f"{bio}\n{instr}\n", "emphasis": instr, "scorer": "pronoun_change",
                      "name": name, "gender": "f" if woman else "m"})
    for fname, rows in [("bios.jsonl", bios), ("json_format.jsonl", jsons), ("pronoun_change.jsonl", prons)]:
        with open(os.path.join(root, fname), "w") as f:
            for r in rows:
                f.write(json.dumps(r, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
