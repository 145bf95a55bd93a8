"""One quiz per lesson (`lessonNN.py`, each a `QUIZ`): see `latentlab.quiz`."""
