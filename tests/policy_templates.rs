//! Record content checked against every shipped template.

use casevault::policy::{FieldKind, Policy};
use casevault::Error;
use serde_json::{json, Value};

/// A realistic record for every template kind (fictional people).
fn examples() -> Vec<(&'static str, Value)> {
    vec![
        (
            "intake",
            json!({
                "client_number": "C-2024-0031",
                "intake_worker": "李敏",
                "client_name": "王小明",
                "intake_date": "2024-03-09",
                "gender": "male",
                "age": 12,
                "health": "哮喘，需随身携带药物",
                "phone": "138-0000-0000",
                "address": "某镇某村 3 组",
                "household": [
                    { "name": "王建国", "relation": "父亲", "age": 41, "phone": "139-0000-0000", "lives_with_client": false },
                    { "name": "张桂兰", "relation": "祖母", "age": 68, "lives_with_client": true }
                ],
                "source": "referral",
                "source_detail": "镇中心小学班主任转介",
                "situation_family": "父母外出务工，与祖母同住。",
                "situation_study_work": "五年级，近期成绩下降。",
                "situation_social": "同伴关系较少。",
                "earlier_services": "无",
                "crisis_factors": "low",
                "crisis_intervention": false,
                "worker_signed_date": "2024-03-09",
                "note": "首次家访安排在 3 月 20 日前。"
            }),
        ),
        (
            "service_plan",
            json!({
                "client_number": "C-2024-0031",
                "worker": "李敏",
                "plan_date": "2024-03-25",
                "background_social": "留守儿童，祖母照顾。",
                "client_view": "希望有朋友一起玩。",
                "needs": "学业支持与同伴交往。",
                "strengths": "喜欢画画，祖母关心。",
                "overall_goal": "改善学业状况并建立同伴支持。",
                "specific_goals": "一、每周完成作业；二、参加兴趣小组。",
                "sessions": [
                    { "session_no": 1, "time": "4 月第一周", "goal": "建立关系", "content": "家访、了解兴趣", "method": "面谈" },
                    { "session_no": 2, "time": "4 月第二周", "goal": "学业支持", "content": "联系志愿者辅导", "method": "资源链接" }
                ]
            }),
        ),
        (
            "process",
            json!({
                "client_number": "C-2024-0031",
                "worker": "李敏",
                "session_no": 3,
                "date": "2024-04-12",
                "time_slot": "16:00-17:00",
                "form": "home_visit",
                "place": "服务对象家中",
                "session_aim": "了解作业完成情况，鼓励参加兴趣小组。",
                "narrative": "服务对象展示了新画的画，谈到班上有同学邀请他踢球，表情放松。",
                "findings": "同伴交往意愿增强。",
                "next_plan": "陪同参加兴趣小组第一次活动。"
            }),
        ),
        (
            "evaluation",
            json!({
                "client_number": "C-2024-0031",
                "services_received": "家访、课业辅导、兴趣小组",
                "coping_improved": true,
                "coping_explanation": "遇到作业难题会主动问老师。",
                "worker_satisfaction": 9,
                "situation_improvement": 7.5,
                "goals_reached": "partly",
                "goals_reason": "成绩提升仍需时间。",
                "client_signed_date": "2024-09-01"
            }),
        ),
        (
            "closing",
            json!({
                "client_number": "C-2024-0031",
                "worker": "李敏",
                "intake_date": "2024-03-09",
                "closing_date": "2024-09-15",
                "session_count": 14,
                "summary": "历时六个月，面谈及家访 14 次；服务对象已融入兴趣小组。",
                "goals_before_after": "作业完成率由约 50% 提升到 90%。",
                "reason": "goals_met",
                "client_informed": true,
                "follow_up_plan": "三个月后电话回访。",
                "worker_signed_date": "2024-09-15",
                "client_signed_date": "2024-09-15"
            }),
        ),
        (
            "referral",
            json!({
                "client_number": "C-2024-0031",
                "worker": "李敏",
                "referral_date": "2024-05-06",
                "receiving_agency": "县青少年心理健康服务中心",
                "receiving_contact": "赵老师 0000-0000000",
                "consent_number": "CS-2024-0107",
                "urgency": "routine",
                "reason": "需要专业的学习困难评估。",
                "services_requested": "学习能力评估",
                "case_summary": "五年级，留守，近期成绩下降。",
                "client_informed": true
            }),
        ),
        (
            "supervision",
            json!({
                "date": "2024-04-20",
                "supervisor": "陈督导",
                "participants": "李敏",
                "form": "individual",
                "topic": "C-2024-0031 服务计划审批",
                "discussion": "讨论兴趣小组介入的节奏。",
                "advice": "增加与学校老师的沟通。",
                "plan_approved": true,
                "next_date": "2024-05-04"
            }),
        ),
        (
            "risk_assessment",
            json!({
                "client_number": "C-2024-0031",
                "assessor": "李敏",
                "assessment_date": "2024-06-02",
                "risks": [
                    { "area": "abuse_violence", "level": "medium", "evidence": "手臂有淤青，称是被亲戚打的。" },
                    { "area": "physical_health", "level": "low" }
                ],
                "risk_level": "medium",
                "risk_mark": "yellow",
                "immediate_actions": "已陪同就医并告知祖母。",
                "safety_plan": "每周家访一次，留下社工电话。",
                "supervisor_informed": true,
                "review_date": "2024-06-16"
            }),
        ),
        (
            "consent",
            json!({
                "client_number": "C-2024-0031",
                "consent_type": "referral",
                "signer_name": "王建国",
                "signer_capacity": "guardian",
                "signer_authority": "父亲",
                "recipient": "县青少年心理健康服务中心，0000-0000000",
                "purpose": "学习能力评估",
                "information_scope": "接案记录、服务计划（一般、保密级别）",
                "separate_consent_sensitive": true,
                "revocation_explained": true,
                "redisclosure_notice": true,
                "signed_date": "2024-05-05",
                "expiry_date": "2024-11-05"
            }),
        ),
    ]
}

fn err_text(r: casevault::Result<()>) -> String {
    match r {
        Err(Error::Invalid(m)) => m,
        other => panic!("expected Error::Invalid, got {other:?}"),
    }
}

fn set(v: &Value, key: &str, value: Value) -> Value {
    let mut v = v.clone();
    v.as_object_mut().unwrap().insert(key.to_string(), value);
    v
}

#[test]
fn every_template_has_an_example() {
    let p = Policy::embedded();
    let kinds: Vec<&str> = examples().iter().map(|(k, _)| *k).collect();
    assert_eq!(kinds.len(), p.templates.len());
    for k in p.templates.keys() {
        assert!(kinds.contains(&k.as_str()), "no example for {k}");
    }
}

#[test]
fn realistic_examples_validate() {
    let p = Policy::embedded();
    for (kind, content) in examples() {
        p.validate_content(kind, &content)
            .unwrap_or_else(|e| panic!("{kind}: {e}"));
    }
}

#[test]
fn minimal_records_with_only_required_fields_validate() {
    let p = Policy::embedded();
    for (kind, content) in examples() {
        let t = p.template(kind).unwrap();
        let mut min = serde_json::Map::new();
        for name in t.required_fields() {
            min.insert(name.to_string(), content[name].clone());
        }
        p.validate_content(kind, &Value::Object(min))
            .unwrap_or_else(|e| panic!("{kind}: {e}"));
    }
}

#[test]
fn missing_required_field_is_refused() {
    let p = Policy::embedded();
    for (kind, content) in examples() {
        let t = p.template(kind).unwrap();
        assert!(
            !t.required_fields().is_empty(),
            "{kind} has no required field"
        );
        for name in t.required_fields() {
            let mut c = content.clone();
            c.as_object_mut().unwrap().remove(name);
            let m = err_text(p.validate_content(kind, &c));
            assert!(m.contains(name), "{kind}: {m}");
            // Null and blank count as missing too.
            let m = err_text(p.validate_content(kind, &set(&content, name, Value::Null)));
            assert!(m.contains(name), "{kind}: {m}");
            if t.field(name).unwrap().kind == FieldKind::Text {
                let m = err_text(p.validate_content(kind, &set(&content, name, json!("  "))));
                assert!(m.contains(name), "{kind}: {m}");
            }
        }
    }
}

#[test]
fn unknown_field_is_refused() {
    let p = Policy::embedded();
    for (kind, content) in examples() {
        let m =
            err_text(p.validate_content(kind, &set(&content, "favourite_colour", json!("blue"))));
        assert!(m.contains("favourite_colour"), "{kind}: {m}");
    }
}

#[test]
fn wrong_date_format_is_refused() {
    let p = Policy::embedded();
    for (kind, content) in examples() {
        let t = p.template(kind).unwrap();
        let date = t
            .fields
            .iter()
            .find(|f| f.kind == FieldKind::Date)
            .unwrap_or_else(|| panic!("{kind} has no date field"));
        for bad in [
            json!("2024/03/09"),
            json!("09-03-2024"),
            json!("2024-02-30"),
            json!("2024-3-9"),
            json!(20240309),
        ] {
            let m = err_text(p.validate_content(kind, &set(&content, &date.name, bad.clone())));
            assert!(m.contains(&date.name), "{kind} {bad}: {m}");
        }
    }
}

#[test]
fn bad_choice_is_refused() {
    let p = Policy::embedded();
    let mut checked = 0;
    for (kind, content) in examples() {
        let t = p.template(kind).unwrap();
        for f in t.fields.iter().filter(|f| f.kind == FieldKind::Choice) {
            // The Chinese label is not the stored code.
            let label = f.choice_labels[0].0.clone();
            for bad in [json!("nonsense"), json!(label), json!(1)] {
                let m = err_text(p.validate_content(kind, &set(&content, &f.name, bad)));
                assert!(m.contains(&f.name), "{kind}: {m}");
            }
            checked += 1;
        }
    }
    assert!(checked >= 8);
}

#[test]
fn wrong_table_rows_are_refused() {
    let p = Policy::embedded();
    let mut tables = 0;
    for (kind, content) in examples() {
        let t = p.template(kind).unwrap();
        for f in t.fields.iter().filter(|f| f.kind == FieldKind::Table) {
            tables += 1;
            let good_row = content[&f.name][0].clone();
            let with_row = |row: Value| set(&content, &f.name, json!([good_row.clone(), row]));
            // A row that is not an object.
            let m = err_text(p.validate_content(kind, &with_row(json!("just text"))));
            assert!(m.contains(&format!("{}[2]", f.name)), "{kind}: {m}");
            // A row with an unknown column.
            let m = err_text(
                p.validate_content(kind, &with_row(set(&good_row, "shoe_size", json!(38)))),
            );
            assert!(
                m.contains(&format!("{}[2].shoe_size", f.name)),
                "{kind}: {m}"
            );
            // A row lacking a required column.
            if let Some(req) = f.columns.iter().find(|c| c.required) {
                let mut row = good_row.clone();
                row.as_object_mut().unwrap().remove(&req.name);
                let m = err_text(p.validate_content(kind, &with_row(row)));
                assert!(
                    m.contains(&format!("{}[2].{}", f.name, req.name)),
                    "{kind}: {m}"
                );
            }
            // A column of the wrong type.
            let col = &f.columns[0];
            let m = err_text(
                p.validate_content(kind, &with_row(set(&good_row, &col.name, json!({"x": 1})))),
            );
            assert!(m.contains(&col.name), "{kind}: {m}");
            // Not an array at all.
            let m =
                err_text(p.validate_content(kind, &set(&content, &f.name, json!({"name": "x"}))));
            assert!(m.contains(&f.name), "{kind}: {m}");
            // An empty table is fine when the field is optional.
            p.validate_content(kind, &set(&content, &f.name, json!([])))
                .unwrap();
        }
    }
    assert_eq!(tables, 3);
}

#[test]
fn wrong_types_are_refused() {
    let p = Policy::embedded();
    let cases = [
        ("intake", "age", json!("twelve")),
        ("intake", "crisis_intervention", json!("no")),
        ("intake", "client_number", json!(31)),
        ("process", "narrative", json!(["a", "b"])),
        ("evaluation", "worker_satisfaction", json!(11)),
        ("evaluation", "worker_satisfaction", json!(0)),
        ("closing", "client_informed", json!(1)),
    ];
    let ex = examples();
    for (kind, field, bad) in cases {
        let content = &ex.iter().find(|(k, _)| *k == kind).unwrap().1;
        let m = err_text(p.validate_content(kind, &set(content, field, bad)));
        assert!(m.contains(field), "{kind}.{field}: {m}");
    }
}

#[test]
fn note_is_accepted_everywhere_but_must_be_text() {
    let p = Policy::embedded();
    for (kind, content) in examples() {
        p.validate_content(kind, &set(&content, "note", json!("随访时带上作业本。")))
            .unwrap();
        let m = err_text(p.validate_content(kind, &set(&content, "note", json!(5))));
        assert!(m.contains("note"), "{kind}: {m}");
    }
}

#[test]
fn optional_fields_may_be_null() {
    let p = Policy::embedded();
    let ex = examples();
    let intake = &ex[0].1;
    p.validate_content("intake", &set(intake, "gender", Value::Null))
        .unwrap();
    p.validate_content("intake", &set(intake, "id_number", Value::Null))
        .unwrap();
}

#[test]
fn unknown_kind_and_non_objects_are_refused() {
    let p = Policy::embedded();
    let m = err_text(p.validate_content("diary", &json!({})));
    assert!(m.contains("diary"), "{m}");
    err_text(p.validate_content("intake", &json!(["client_number"])));
    err_text(p.validate_content("intake", &json!("C-1")));
}

#[test]
fn errors_do_not_echo_values() {
    let p = Policy::embedded();
    let ex = examples();
    let m = err_text(p.validate_content("intake", &set(&ex[0].1, "source", json!("秘密内容"))));
    assert!(!m.contains("秘密内容"), "{m}");
    let m =
        err_text(p.validate_content("intake", &set(&ex[0].1, "intake_date", json!("秘密内容"))));
    assert!(!m.contains("秘密内容"), "{m}");
}
