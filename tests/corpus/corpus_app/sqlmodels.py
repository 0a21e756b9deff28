"""SQLModel models (their own ``SQLModel.metadata``): teams and heroes, lazy relationships.

No ``from __future__ import annotations``: SQLModel reads the annotations at class creation.
"""

from typing import Optional

from sqlmodel import Field, Relationship, SQLModel


class Team(SQLModel, table=True):
    __tablename__ = "sm_teams"
    id: int | None = Field(default=None, primary_key=True)
    name: str
    heroes: list["Hero"] = Relationship(back_populates="team")


class Hero(SQLModel, table=True):
    __tablename__ = "sm_heroes"
    id: int | None = Field(default=None, primary_key=True)
    name: str
    power: int = 0
    team_id: int | None = Field(default=None, foreign_key="sm_teams.id")
    team: Optional["Team"] = Relationship(back_populates="heroes")
