"""Answer synthesis: every answerer turns a question and its retrieved hits into text
with [n] markers, where n is the 1-based position of the hit in `hits`.

extractive.py  the offline default: whole abstract sentences, decided by tuned models
evidence.py    what those decisions measure (pure)
generative.py  any chat model, through a prompt (prompts.py)
followup.py    follow-up questions: condensing, and the papers they refer to
citations.py   every backend's answer is checked here: markers, claims, support

The engine joins the streamed pieces, then `citations.check_citations` validates
the markers and scores their support, whatever the backend.
"""
