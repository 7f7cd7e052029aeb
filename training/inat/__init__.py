"""Real training photos from iNaturalist: `python -m training.fetch_photos` (make fetch-photos).

`catalogue` names what each class is made of, `client` talks to the API politely,
`observations` reads its answers, `photos` picks and checks one photo per observation, `ledger`
is ATTRIBUTION.csv (the licence record, and what makes a run resumable).
"""
