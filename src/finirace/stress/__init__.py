"""Stress: a command run many times with its shutdown windows widened, every run stored as it ends.

``perturb`` widens the windows (``data/sitecustomize.py``; ``shim.c`` for
native delays); ``execute`` makes one contained, watched run into a record;
``runner`` drives a campaign over local threads or Dask and resumes it;
``signature`` groups crashes into buckets (frame lists in ``data/*.txt``);
``examples`` holds known-bad targets for trying it out and measuring it.
"""
