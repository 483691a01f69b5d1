"""`tracker serve`: a local web interface for patients and nurses over the same services as the CLI.

    app.py       the application factory (routes, templates, the security layer around them)
    security.py  the checks every request passes: loopback Host, session cookie, Origin, CSRF, size
    forms.py     one function per form: form strings -> the service call (parsing by the domain's parsers)
    words.py     plain words for patient pages (the clinical wording stays on the nurse pages)
    patient.py   patient pages: home, log forms, trends, plots, report
    nurse.py     nurse pages: worklist, review a flag, patient record, amend/void, import

Installed as the `web` extra (starlette, jinja2, uvicorn, python-multipart); nothing is fetched at run
time and no page needs JavaScript.
"""
