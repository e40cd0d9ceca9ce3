"""The tutorial's Model 2: a line's growing prefix in (pre-padded to the longest line)."""

from tutorial_common import run

run("line", ["jack", "jill"], words=6)
