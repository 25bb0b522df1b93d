//! Categories: a configurable taxonomy of disputes and resident requests, bilingual, each with
//! optional extra questions and a deadline policy (SLA) per urgency.

use serde::{Deserialize, Serialize};

use crate::calendar::Span;
use crate::case::Urgency;
use crate::error::FieldError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CategoryKind {
    /// A dispute between parties (矛盾纠纷); carries parties and is rated by each of them.
    Dispute,
    /// A resident's request, complaint or report (诉求).
    Request,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QuestionType {
    String,
    Number,
    Datetime,
    Text,
    SingleValueList,
    MultiValueList,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Choice {
    pub key: String,
    pub name_zh: String,
    pub name_en: String,
}

/// An extra question asked when a case of this category is recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Question {
    pub code: String,
    pub label_zh: String,
    pub label_en: String,
    pub datatype: QuestionType,
    #[serde(default)]
    pub required: bool,
    #[serde(default)]
    pub values: Vec<Choice>,
}

/// The three deadlines of one urgency: response (from dispatch, transfer or escalation),
/// handling (from dispatch) and return visit (from resolution).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sla {
    pub response: Span,
    pub handling: Span,
    pub visit: Span,
}

impl Sla {
    pub const fn new(response: Span, handling: Span, visit: Span) -> Sla {
        Sla { response, handling, visit }
    }
    /// Routine: respond within a working day, settle within five, visit within three.
    pub const ROUTINE: Sla = Sla::new(Span::WorkingDays(1), Span::WorkingDays(5), Span::WorkingDays(3));
    /// Urgent: respond within half a working day, settle within two.
    pub const URGENT: Sla = Sla::new(Span::WorkingHours(4), Span::WorkingDays(2), Span::WorkingDays(2));
    /// Emergency: the clock never stops — respond within an hour, stabilise within a day.
    pub const EMERGENCY: Sla = Sla::new(Span::Hours(1), Span::Hours(24), Span::WorkingDays(1));
}

/// A category's deadline policy (SLA), by urgency. Deadlines are computed on the business
/// calendar when a case is dispatched or resolved and recorded in the event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "serde_json::Value")]
pub struct DeadlinePolicy {
    pub routine: Sla,
    pub urgent: Sla,
    pub emergency: Sla,
}

impl DeadlinePolicy {
    pub const DEFAULT: DeadlinePolicy = DeadlinePolicy { routine: Sla::ROUTINE, urgent: Sla::URGENT, emergency: Sla::EMERGENCY };

    pub fn for_urgency(&self, u: Urgency) -> Sla {
        match u {
            Urgency::Routine => self.routine,
            Urgency::Urgent => self.urgent,
            Urgency::Emergency => self.emergency,
        }
    }
}

/// The current shape: urgent defaults to routine, emergency to [`Sla::EMERGENCY`].
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CurrentPolicy {
    routine: Sla,
    #[serde(default)]
    urgent: Option<Sla>,
    #[serde(default)]
    emergency: Option<Sla>,
}

/// The earlier shape of plain hours, which keeps its meaning (elapsed hours).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HoursPolicy {
    response_hours: u32,
    handling_hours: u32,
    visit_hours: u32,
}

/// Either shape, told apart by the `routine` key so a mistake in the current shape is
/// reported as itself (say, a bad span) rather than as "matches no shape".
impl TryFrom<serde_json::Value> for DeadlinePolicy {
    type Error = String;
    fn try_from(v: serde_json::Value) -> Result<DeadlinePolicy, String> {
        if v.get("routine").is_some() {
            let p: CurrentPolicy = serde_json::from_value(v).map_err(|e| e.to_string())?;
            Ok(DeadlinePolicy {
                routine: p.routine,
                urgent: p.urgent.unwrap_or(p.routine),
                emergency: p.emergency.unwrap_or(Sla::EMERGENCY),
            })
        } else {
            let p: HoursPolicy =
                serde_json::from_value(v).map_err(|e| format!("{e} (a policy is {{\"routine\": {{\"response\": \"1wd\", ...}}}})"))?;
            let h = |n: u32| Span::Hours(n.max(1));
            let routine = Sla::new(h(p.response_hours), h(p.handling_hours), h(p.visit_hours));
            Ok(DeadlinePolicy { routine, urgent: routine, emergency: Sla::EMERGENCY })
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Category {
    pub code: String,
    pub kind: CategoryKind,
    pub name_zh: String,
    pub name_en: String,
    /// May cases of this category ever be shown on public pages and the Open311 list?
    pub public: bool,
    #[serde(default)]
    pub questions: Vec<Question>,
    pub policy: DeadlinePolicy,
    /// Emergency categories tell the resident to call 110 at once.
    #[serde(default)]
    pub emergency: bool,
}

impl Category {
    /// Checks the answers to the extra questions: required ones present, values of the right
    /// type and from the list. Unknown question codes are refused so typos are not lost.
    pub fn check_answers(&self, answers: &serde_json::Map<String, serde_json::Value>) -> Vec<FieldError> {
        use serde_json::Value;
        let mut errs = Vec::new();
        for code in answers.keys() {
            if !self.questions.iter().any(|q| &q.code == code) {
                errs.push(FieldError::new(format!("answers.{code}"), "no such question in this category"));
            }
        }
        for q in &self.questions {
            let field = format!("answers.{}", q.code);
            let Some(v) = answers.get(&q.code).filter(|v| !v.is_null()) else {
                if q.required {
                    errs.push(FieldError::new(field, "this question must be answered"));
                }
                continue;
            };
            let in_list = |s: &str| q.values.iter().any(|c| c.key == s);
            let ok = match q.datatype {
                QuestionType::String | QuestionType::Text => v.as_str().is_some_and(|s| s.chars().count() <= 4000),
                QuestionType::Number => v.is_number() || v.as_str().is_some_and(|s| s.parse::<f64>().is_ok()),
                QuestionType::Datetime => v.as_str().is_some_and(|s| crate::Timestamp::parse_rfc3339(s).is_some()),
                QuestionType::SingleValueList => v.as_str().is_some_and(in_list),
                QuestionType::MultiValueList => match v {
                    Value::Array(items) => items.iter().all(|i| i.as_str().is_some_and(in_list)),
                    _ => false,
                },
            };
            if !ok {
                errs.push(FieldError::new(field, format!("expected a {:?} answer", q.datatype).to_lowercase()));
            }
        }
        errs
    }
}

fn cat(code: &str, kind: CategoryKind, zh: &str, en: &str, public: bool, routine: [&str; 3]) -> Category {
    let span = |s: &str| Span::parse(s).expect("built-in spans are valid");
    let routine = Sla::new(span(routine[0]), span(routine[1]), span(routine[2]));
    // Urgent matters get the urgent deadlines unless routine ones are already as tight.
    let tight = matches!(routine.response, Span::Hours(_)) || matches!(routine.handling, Span::Hours(_) | Span::WorkingDays(1));
    let urgent = if tight { routine } else { Sla::URGENT };
    Category {
        code: code.into(),
        kind,
        name_zh: zh.into(),
        name_en: en.into(),
        public,
        questions: Vec::new(),
        policy: DeadlinePolicy { routine, urgent, emergency: Sla::EMERGENCY },
        emergency: false,
    }
}

/// The taxonomy a new deployment starts with: the people's-mediation dispute types of the
/// official statistics and common resident-request types. Administrators may change it.
pub fn builtin_categories() -> Vec<Category> {
    use CategoryKind::{Dispute as D, Request as R};
    // Disputes: mediation is to finish within a month (calendar days); requests: five working
    // days unless the matter needs less.
    let d = ["1wd", "30d", "3wd"];
    let mut v = vec![
        cat("marriage_family", D, "婚姻家庭纠纷", "Marriage and family dispute", false, d),
        cat("neighbour", D, "邻里纠纷", "Neighbour dispute", false, ["1wd", "15d", "3wd"]),
        cat("housing_homestead", D, "房屋宅基地纠纷", "Housing and homestead dispute", false, d),
        cat("contract", D, "合同纠纷", "Contract dispute", false, d),
        cat("production_business", D, "生产经营纠纷", "Production and business dispute", false, d),
        cat("damages", D, "损害赔偿纠纷", "Damages dispute", false, d),
        cat("forest_land", D, "山林土地纠纷", "Forest and land dispute", false, d),
        cat("land_requisition", D, "征地拆迁纠纷", "Land requisition and demolition dispute", false, d),
        cat("pollution", D, "环境污染纠纷", "Pollution dispute", false, d),
        cat("labour", D, "劳动争议", "Labour dispute", false, d),
        cat("consumer", D, "消费纠纷", "Consumer dispute", false, ["1wd", "15d", "3wd"]),
        cat("medical", D, "医疗纠纷", "Medical dispute", false, d),
        cat("traffic_accident", D, "道路交通事故纠纷", "Road traffic accident dispute", false, d),
        cat("property_management", D, "物业纠纷", "Property management dispute", false, ["1wd", "15d", "3wd"]),
        cat("other_dispute", D, "其他纠纷", "Other dispute", false, d),
        cat("road_damage", R, "道路破损", "Damaged road", true, ["1wd", "5wd", "3wd"]),
        cat("street_light", R, "路灯故障", "Street light out", true, ["1wd", "3wd", "3wd"]),
        cat("sanitation", R, "环境卫生", "Sanitation and litter", true, ["4wh", "2wd", "2wd"]),
        cat("noise", R, "噪声扰民", "Noise nuisance", true, ["4h", "1wd", "2wd"]),
        cat("water_supply", R, "供水问题", "Water supply problem", true, ["4h", "2wd", "2wd"]),
        cat("illegal_construction", R, "违章建筑", "Illegal construction", true, ["1wd", "15wd", "3wd"]),
        cat("public_security", R, "治安隐患", "Public-order hazard", false, ["2h", "24h", "2wd"]),
        cat("fraud_report", R, "电信诈骗求助", "Telecom fraud report", false, ["1h", "24h", "2wd"]),
        cat("help_request", R, "群众求助", "Request for help", false, ["2h", "24h", "2wd"]),
        cat("policy_consultation", R, "政策咨询", "Policy question", true, ["1wd", "3wd", "2wd"]),
        cat("complaint_staff", R, "投诉工作人员", "Complaint about staff", false, ["1wd", "5wd", "3wd"]),
        cat("other_request", R, "其他诉求", "Other request", true, ["1wd", "5wd", "3wd"]),
    ];
    for c in &mut v {
        match c.code.as_str() {
            "public_security" | "help_request" => c.emergency = true,
            "damages" | "traffic_accident" => c.questions.push(Question {
                code: "amount".into(),
                label_zh: "涉及金额（元）".into(),
                label_en: "Amount involved (CNY)".into(),
                datatype: QuestionType::Number,
                required: false,
                values: vec![],
            }),
            "road_damage" => c.questions.push(Question {
                code: "road_kind".into(),
                label_zh: "道路类型".into(),
                label_en: "Kind of road".into(),
                datatype: QuestionType::SingleValueList,
                required: true,
                values: vec![
                    Choice { key: "village".into(), name_zh: "村道".into(), name_en: "Village road".into() },
                    Choice { key: "county".into(), name_zh: "县道".into(), name_en: "County road".into() },
                    Choice { key: "street".into(), name_zh: "街巷".into(), name_en: "Street or lane".into() },
                ],
            }),
            "noise" => c.questions.push(Question {
                code: "time_of_day".into(),
                label_zh: "发生时段".into(),
                label_en: "When it happens".into(),
                datatype: QuestionType::MultiValueList,
                required: false,
                values: vec![
                    Choice { key: "day".into(), name_zh: "白天".into(), name_en: "Daytime".into() },
                    Choice { key: "night".into(), name_zh: "夜间".into(), name_en: "Night".into() },
                ],
            }),
            _ => {}
        }
    }
    v
}
