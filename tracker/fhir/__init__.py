"""FHIR R4 (4.0.1) exchange: read a patient's portal download into lab results, write an
mCODE-shaped bundle (docs/fhir.md).

`codes` is plain data (imported by nothing heavy). `reader` and `writer` use the FHIR models of
the `fhirclient` library; they are imported only by the FHIR import and export, so that no other
command pays for loading them.
"""
