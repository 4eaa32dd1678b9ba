"""Survey data: the canonical form every stage shares, the readers that build it, and the splits.

- :mod:`gemsflow.data.survey`: :class:`~gemsflow.data.survey.SurveyData` and the one split x answer join;
- :mod:`gemsflow.data.datasets`: one reader per source format (GEMS layout, OpinionQA ``.sav`` waves) and the
  generators of synthetic test data;
- :mod:`gemsflow.data.splits`: train/validation/test splits for the three settings.
"""
