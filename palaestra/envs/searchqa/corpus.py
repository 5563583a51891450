"""A seeded world of invented people, cities, countries and companies, and 2-hop questions.

Names are built from syllables by a seeded generator, so no language model knows the facts
in advance: an agent has to search. Each entity has one document stating its facts; a
question chains two facts (a person's birth city, then that city's country), so answering
takes at least two searches.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_SYLLABLES = (
    "ka", "lo", "mi", "ren", "do", "sa", "vel", "tor", "an", "bri", "cu", "dex", "fa", "gol",
    "hi", "jun", "kor", "la", "mor", "ni", "ost", "pa", "qui", "ro", "sel", "tu", "ul", "va",
    "wen", "xi", "yor", "zan",
)  # fmt: skip


@dataclass(frozen=True)
class Question:
    """A multi-hop question.

    Attributes:
        text: The question.
        answer: The gold answer.
        hops: Entity names an oracle searches for, in order.
    """

    text: str
    answer: str
    hops: tuple[str, ...]


@dataclass(frozen=True)
class World:
    """The generated corpus and the facts behind it.

    Attributes:
        documents: One text per entity (title first).
        born_in: Person → city.
        works_for: Person → company.
        city_country: City → country.
        founded_by: Company → person.
    """

    documents: tuple[str, ...]
    born_in: dict[str, str]
    works_for: dict[str, str]
    city_country: dict[str, str]
    founded_by: dict[str, str]


def _names(rng: np.random.Generator, count: int, syllables: int, taken: set[str]) -> list[str]:
    names: list[str] = []
    while len(names) < count:
        parts = rng.choice(len(_SYLLABLES), size=syllables)
        name = "".join(_SYLLABLES[p] for p in parts).capitalize()
        if name not in taken:
            taken.add(name)
            names.append(name)
    return names


def build_world(seed: int, people: int = 60) -> World:
    """The world of ``seed`` with ``people`` persons (and proportionally many places)."""
    rng = np.random.default_rng(seed)
    taken: set[str] = set()
    persons = [
        f"{a} {b}"
        for a, b in zip(_names(rng, people, 2, taken), _names(rng, people, 3, taken), strict=True)
    ]
    cities = _names(rng, max(4, people // 4), 3, taken)
    countries = _names(rng, max(2, people // 12), 2, taken)
    companies = [f"{n} Works" for n in _names(rng, max(3, people // 6), 2, taken)]
    city_country = {c: countries[int(rng.integers(len(countries)))] for c in cities}
    born_in = {p: cities[int(rng.integers(len(cities)))] for p in persons}
    works_for = {p: companies[int(rng.integers(len(companies)))] for p in persons}
    founded_by = {c: persons[int(rng.integers(len(persons)))] for c in companies}
    documents = [
        f"{p}. {p} was born in {born_in[p]}. {p} works for {works_for[p]}." for p in persons
    ]
    documents += [f"{c}. {c} is a city in {city_country[c]}." for c in cities]
    documents += [f"{o}. {o} is a company founded by {founded_by[o]}." for o in companies]
    return World(tuple(documents), born_in, works_for, city_country, founded_by)


def make_question(world: World, rng: np.random.Generator) -> Question:
    """A 2-hop question about a random person of ``world``."""
    persons = sorted(world.born_in)
    person = persons[int(rng.integers(len(persons)))]
    if rng.random() < 0.5:
        city = world.born_in[person]
        return Question(
            f"In which country was {person} born?", world.city_country[city], (person, city)
        )
    company = world.works_for[person]
    return Question(
        f"Who founded the company that {person} works for?",
        world.founded_by[company],
        (person, company),
    )
