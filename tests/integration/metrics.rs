//! Metrics against scikit-learn (fixture: tests/fixtures/metrics/make_fixture.py).

use crate::repo_path;
use emofuse::core::LabelMap;
use emofuse::evaluation::{classification_report, evaluate};
use serde_json::Value;

fn fixture() -> Value {
    let text = std::fs::read_to_string(repo_path("tests/fixtures/metrics/sklearn_metrics.json"))
        .expect("fixture present");
    serde_json::from_str(&text).expect("fixture is JSON")
}

fn labels(v: &Value) -> Vec<usize> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as usize)
        .collect()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-12
}

#[test]
fn metrics_match_scikit_learn() {
    let fx = fixture();
    let names: Vec<String> = serde_json::from_value(fx["names"].clone()).unwrap();
    let map = LabelMap::new(&names).unwrap();
    for case in fx["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let m = evaluate(&labels(&case["y_true"]), &labels(&case["y_pred"]), &map);
        assert!(
            close(m.accuracy, case["accuracy"].as_f64().unwrap()),
            "{name} accuracy"
        );
        assert!(
            close(m.weighted_f1, case["weighted_f1"].as_f64().unwrap()),
            "{name} weighted F1"
        );
        assert!(
            close(m.macro_f1, case["macro_f1"].as_f64().unwrap()),
            "{name} macro F1"
        );
        assert!(
            close(m.uar, case["uar"].as_f64().unwrap()),
            "{name} UAR: {} vs balanced_accuracy_score {}",
            m.uar,
            case["uar"]
        );
        for (c, cm) in m.classes.iter().enumerate() {
            assert!(
                close(cm.precision, case["precision"][c].as_f64().unwrap()),
                "{name} precision {c}"
            );
            assert!(
                close(cm.recall, case["recall"][c].as_f64().unwrap()),
                "{name} recall {c}"
            );
            assert!(
                close(cm.f1, case["f1"][c].as_f64().unwrap()),
                "{name} f1 {c}"
            );
            assert_eq!(
                cm.support as u64,
                case["support"][c].as_u64().unwrap(),
                "{name} support {c}"
            );
        }
        let expected: Vec<Vec<usize>> =
            serde_json::from_value(case["confusion_matrix"].clone()).unwrap();
        assert_eq!(m.confusion_matrix, expected, "{name} confusion matrix");
        assert_eq!(
            classification_report(&m, &map, 4),
            case["report"].as_str().unwrap(),
            "{name} classification report"
        );
    }
}

#[test]
fn uar_leaves_out_classes_without_support_as_scikit_learn() {
    // The imbalanced case has a class ("fear") that is predicted but never true: UAR averages
    // over the six classes with support, the macro recall over all seven.
    let fx = fixture();
    let names: Vec<String> = serde_json::from_value(fx["names"].clone()).unwrap();
    let map = LabelMap::new(&names).unwrap();
    let case = &fx["cases"][0];
    let m = evaluate(&labels(&case["y_true"]), &labels(&case["y_pred"]), &map);
    assert_eq!(m.classes[6].support, 0);
    assert!(close(m.uar, m.macro_recall * 7.0 / 6.0), "{m:?}");
    assert!(m.uar > m.macro_recall + 0.05);
}

#[test]
fn metrics_take_y_true_first() {
    // With the arguments swapped, weighted F1 becomes scikit-learn's f1_score(y_pred, y_true),
    // the bug that inflated a published MELD result. Ours must equal the unswapped value only.
    let fx = fixture();
    let case = &fx["cases"][0];
    let (y_true, y_pred) = (labels(&case["y_true"]), labels(&case["y_pred"]));
    let right = case["weighted_f1"].as_f64().unwrap();
    let swapped = case["weighted_f1_swapped"].as_f64().unwrap();
    assert!(
        (right - swapped).abs() > 0.01,
        "the fixture must tell the orders apart"
    );
    let m = evaluate(&y_true, &y_pred, &LabelMap::meld());
    assert!(close(m.weighted_f1, right));
    let m_swapped = evaluate(&y_pred, &y_true, &LabelMap::meld());
    assert!(close(m_swapped.weighted_f1, swapped));
    // Rows of the confusion matrix are true classes: row sums are supports.
    for (row, cls) in m.confusion_matrix.iter().zip(&m.classes) {
        assert_eq!(row.iter().sum::<usize>(), cls.support);
    }
}

#[test]
fn metrics_json_has_per_class_entries_by_name() {
    let m = evaluate(&[0, 1, 1], &[0, 1, 0], &LabelMap::meld());
    let v = serde_json::to_value(&m).unwrap();
    assert_eq!(v["per_class"]["joy"]["support"], 2);
    assert_eq!(v["per_class"]["neutral"]["precision"], 0.5);
    assert_eq!(v["confusion_matrix"][1][0], 1);
}
