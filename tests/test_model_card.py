"""The model card and its fit report: what a model's metadata says about how it was fitted, read back as lines
and curves, and shown from the session's model list."""

from __future__ import annotations

import numpy as np
import pytest

from strfviewer.backend.analysis.fitreport import fit_report, method_label
from strfviewer.backend.checkpoints import load_model
from strfviewer.resources import DEMO

RIDGE_INFO = {
    "training": {
        "method": "ridge", "seconds": 2.2,
        "ridge": {"lambdas": [0.01, 0.1, 1.0], "chosen_lambda": [0.1, 1.0, 0.1],
                  "cv_cc_norm": [[0.2, 0.1, None], [0.4, 0.3, None], [0.3, 0.5, None]],
                  "cv_cc_norm_pooled": [0.15, 0.35, 0.4], "folds": [[0], [1], [2]], "shared_lambda": False},
    },
    "metrics": {"test": {"cc_norm": [0.5, 0.7, None], "p_value": [0.001, 0.2, None], "significance_shifts": 1000,
                         "unreliable_cc_norm": [2]}},
}


def test_a_ridge_report_has_the_tuning_curves_of_each_neuron_and_the_mean_and_marks_the_lambda():
    report = fit_report(RIDGE_INFO)
    lines = dict(report.lines)
    assert report.method == "ridge" and method_label(RIDGE_INFO) == "ridge"
    assert lines["fitted by"] == "closed-form ridge, 3-fold cross-validation over whole stimuli"
    assert lines["lambda"] == "median 0.1 (from 0.1 to 1)"
    assert lines["test cc_norm"] == "mean 0.600, median 0.600 over 2 neurons"
    assert lines["significant"] == "1 of 2 neurons at p < 0.05 against 1000 circular shifts"
    assert lines["unreliable cc_norm"] == "1 neuron with cc_max below 0.3"
    (panel,) = report.panels
    assert panel.log_x and panel.marker == pytest.approx(0.1)
    faint = [c for c in panel.curves if c.faint]
    assert len(faint) == 3 and np.allclose(faint[1].y, [0.1, 0.3, 0.5])  # neuron 1 over the lambdas
    assert np.isnan(faint[2].y).all()  # a neuron without scores draws nothing, and breaks nothing
    (mean,) = [c for c in panel.curves if not c.faint]
    np.testing.assert_allclose(mean.y, [0.15, 0.35, 0.4])


def test_a_gradient_report_has_the_validation_and_loss_curves_with_the_best_epoch():
    history = [{"epoch": e, "train_loss": 1.0 / e, "val_cc_norm": 0.1 * e} for e in range(1, 6)]
    info = {"training": {"method": "gradient", "optimizer": "AdamW", "epochs_run": 5, "best_epoch": 4,
                         "history": history}}
    report = fit_report(info)
    assert report.method == "gradient"
    assert dict(report.lines)["epochs"] == "5 run, best 4 restored"
    assert [p.y_label for p in report.panels] == ["validation cc_norm", "training loss"]
    assert all(p.marker == 4 and not p.log_x for p in report.panels)
    np.testing.assert_allclose(report.panels[1].curves[0].y, [1.0 / e for e in range(1, 6)])


def test_metadata_that_records_nothing_gives_an_empty_report_not_an_error():
    for info in (None, {}, {"training": "garbage"}, {"training": {"ridge": {"lambdas": [0, -1]}}},
                 {"training": {"history": [1, 2]}}, {"metrics": {"test": {"cc_norm": "x"}}}):
        report = fit_report(info)
        assert report.panels == [] or all(p.curves for p in report.panels)
    assert method_label({}) == "-"


def test_double_clicking_a_model_opens_its_card_with_its_fit_curves(make_window, qtbot):
    window = make_window()
    window.state.add_model(load_model(DEMO / "models" / "linear-mel"))
    item = window.model_list.item(0)
    window.model_list.itemActivated.emit(item)
    card = window.model_card
    assert card is not None and card.isVisible()
    assert card.fields["model"].text() == "Linear" and card.fields["front-end"].text() == "mel"
    assert card.fields["epochs"].text().startswith("75 run, best 60")
    assert [p.getAxis("left").labelText for p in card.curves.plots] == ["validation cc_norm", "training loss"]
    assert card.fields["test cc_norm"].text().startswith("mean ")
