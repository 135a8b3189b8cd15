"""Photo → manga character: describe a photo without writing a prompt (the photo-to-anime recipe).

``vocabulary`` (the editable attribute and style JSON in ``data/``) → ``regions`` (where the person is, without a
detector) → ``describe`` (zero-shot CLIP scores, injected encoders) → ``prompt`` (kept and omitted attributes, the
content prompt).
"""
