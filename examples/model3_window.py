"""The tutorial's Model 3: two words in, one word out."""

from tutorial_common import run

run("window", ["jack and", "and jill"], context=2, words=5)
