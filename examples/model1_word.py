"""The tutorial's Model 1: one word in, one word out."""

from tutorial_common import run

run("word", ["jack"], words=6)
