"""The tutorial's suggested extension: whole lines as sequences, every position trained at once."""

from tutorial_common import run

run("sequence", ["jack", "jill"], words=6)
