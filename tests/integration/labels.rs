use emofuse::core::LabelMap;

#[test]
fn meld_label_map_has_meld_order() {
    let labels = LabelMap::meld();
    assert_eq!(
        labels.names(),
        [
            "neutral", "joy", "surprise", "anger", "sadness", "disgust", "fear"
        ]
    );
    assert_eq!(labels.index("neutral").unwrap(), 0);
    assert_eq!(labels.index("fear").unwrap(), 6);
    for i in 0..labels.len() {
        assert_eq!(labels.index(labels.name(i)).unwrap(), i);
    }
}

#[test]
fn unknown_class_names_are_errors_listing_the_classes() {
    let err = LabelMap::meld().index("happy").unwrap_err().to_string();
    assert!(err.contains("`happy`"), "{err}");
    assert!(err.contains("neutral, joy, surprise"), "{err}");
}

#[test]
fn duplicate_or_empty_names_are_rejected() {
    assert!(LabelMap::new(&["a", "b", "a"]).is_err());
    assert!(LabelMap::new(&["a", " "]).is_err());
    assert!(LabelMap::new::<&str>(&[]).is_err());
}
