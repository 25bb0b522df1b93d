//! Units: the bodies that handle cases.

use serde::{Deserialize, Serialize};

use crate::region::RegionCode;

/// A unit's identifier: a short stable slug chosen by the administrator (`ps-fengqiao`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UnitId(pub String);

impl UnitId {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for UnitId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnitKind {
    /// 派出所
    PoliceStation,
    /// 社区警务室
    CommunityPoliceOffice,
    /// 村民委员会 / 居民委员会
    VillageCommittee,
    /// 司法所
    JudicialOffice,
    /// 人民调解委员会
    MediationCommittee,
    /// 乡镇矛盾纠纷调处化解中心
    TownMediationCentre,
    /// 县级社会矛盾纠纷调处化解中心
    CountyMediationCentre,
    /// 政府职能部门
    GovernmentDepartment,
    /// 社会组织
    SocialOrganisation,
    /// 律师事务所
    LawFirm,
    /// 公共服务企业 (water, power, property management)
    ServiceProvider,
}

impl UnitKind {
    pub const ALL: [UnitKind; 11] = [
        UnitKind::PoliceStation,
        UnitKind::CommunityPoliceOffice,
        UnitKind::VillageCommittee,
        UnitKind::JudicialOffice,
        UnitKind::MediationCommittee,
        UnitKind::TownMediationCentre,
        UnitKind::CountyMediationCentre,
        UnitKind::GovernmentDepartment,
        UnitKind::SocialOrganisation,
        UnitKind::LawFirm,
        UnitKind::ServiceProvider,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            UnitKind::PoliceStation => "police_station",
            UnitKind::CommunityPoliceOffice => "community_police_office",
            UnitKind::VillageCommittee => "village_committee",
            UnitKind::JudicialOffice => "judicial_office",
            UnitKind::MediationCommittee => "mediation_committee",
            UnitKind::TownMediationCentre => "town_mediation_centre",
            UnitKind::CountyMediationCentre => "county_mediation_centre",
            UnitKind::GovernmentDepartment => "government_department",
            UnitKind::SocialOrganisation => "social_organisation",
            UnitKind::LawFirm => "law_firm",
            UnitKind::ServiceProvider => "service_provider",
        }
    }

    pub fn parse(s: &str) -> Option<UnitKind> {
        UnitKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Unit {
    pub id: UnitId,
    pub name: String,
    #[serde(default)]
    pub name_en: Option<String>,
    pub kind: UnitKind,
    /// The root of the unit's service area.
    pub region: RegionCode,
    /// The category codes the unit handles; empty: every category. Routing by place passes
    /// over a unit that does not handle the case's category.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub handles: Vec<String>,
}

impl Unit {
    /// Whether the unit takes cases of this category.
    pub fn handles_category(&self, category: &str) -> bool {
        self.handles.is_empty() || self.handles.iter().any(|c| c == category)
    }

    /// Whether the unit's service area (its region's subtree) contains the region.
    pub fn serves(&self, region: &RegionCode) -> bool {
        self.region.contains(region)
    }
}
