//! A deterministic generator of realistic resident complaints in Chinese and English, labelled
//! with the built-in category codes, for tests and benchmarks (no corpus file in the repository).
//!
//! Each text is a frame (who, where, when, the ask) around one or two phrases of its category;
//! one text in ten also mentions a phrase of another category, as real complaints do, so the
//! classes overlap. [`near_duplicates`] adds edited copies (typos, punctuation, spacing,
//! full-width characters, an added sentence) of earlier texts.

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

/// (category code, Chinese issues, Chinese details, English issues, English details).
type Cat = (&'static str, &'static [&'static str], &'static [&'static str], &'static [&'static str], &'static [&'static str]);

const CATEGORIES: &[Cat] = &[
    (
        "marriage_family",
        &["丈夫长期酗酒不顾家", "夫妻闹离婚争孩子抚养权", "儿女不赡养年迈的父母", "婆媳矛盾越闹越大", "前夫拖欠孩子抚养费"],
        &["老人生活没有着落", "孩子上学受到影响", "双方都不肯让步"],
        &[
            "my husband keeps drinking and neglects the family",
            "my children refuse to support their elderly parents",
            "my ex-husband has not paid child support",
            "we are divorcing and cannot agree on custody",
        ],
        &["the elderly couple has nobody to care for them", "the kids are caught in the middle"],
    ),
    (
        "neighbour",
        &["楼上邻居家漏水渗到我家", "邻居在公共楼道堆放杂物", "邻居家的狗经常咬人", "邻居占用我家门前的通道", "邻居把空调外机对着我家窗户"],
        &["多次沟通邻居不理睬", "两家为此吵了好几次"],
        &[
            "water from the flat upstairs leaks into my ceiling",
            "my neighbour piles junk in the shared stairwell",
            "the neighbour's dog keeps biting people",
            "the neighbour blocks the passage in front of my door",
        ],
        &["we asked them many times but they ignore us", "the two families have quarrelled over it"],
    ),
    (
        "housing_homestead",
        &["宅基地边界与邻居有争议", "兄弟之间为分老房子起纠纷", "邻居建房占了我家宅基地", "老宅继承分配不均", "房屋产权登记名字有争议"],
        &["村里调解过一次没结果", "土地证上的面积对不上"],
        &[
            "the boundary of our homestead plot is disputed",
            "my brothers and I disagree on dividing the old house",
            "the neighbour built onto part of our homestead",
            "the title registration of the house is contested",
        ],
        &["the village tried once to mediate without result", "the area on the land certificate does not match"],
    ),
    (
        "contract",
        &[
            "装修公司收了定金不开工",
            "租房合同到期房东不退押金",
            "买的二手车与合同约定不符",
            "承包合同对方违约不付款",
            "培训机构不按合同退费",
        ],
        &["合同上写得很清楚", "对方一直推脱"],
        &[
            "the renovation company took the deposit and never started",
            "the landlord will not return my deposit after the lease ended",
            "the contractor broke the contract and refuses to pay",
            "the training school will not refund as the contract says",
        ],
        &["the contract is clear about it", "they keep making excuses"],
    ),
    (
        "production_business",
        &[
            "合作社分红账目不清",
            "合伙开店散伙后财产分不清",
            "养殖场与承包户为水源起争执",
            "供货商与商户为货款争执",
            "相邻两家店铺为门面经营起冲突",
        ],
        &["生意受到很大影响", "双方各执一词"],
        &[
            "the co-operative's dividend accounts are unclear",
            "after our partnership ended we cannot divide the shop's assets",
            "a supplier and a shopkeeper argue over payment for goods",
            "two neighbouring shops fight over the shopfront",
        ],
        &["the business is badly affected", "each side tells a different story"],
    ),
    (
        "damages",
        &["邻居家的树倒下砸坏我的车", "装修时把楼下天花板弄坏了", "狗咬伤了孩子要求赔偿", "施工队挖断了我家的水管", "对方损坏了我的农作物"],
        &["要求对方赔偿损失", "修理费好几千元"],
        &[
            "a tree from next door fell and damaged my car",
            "their renovation damaged the ceiling below",
            "a dog bit my child and we want compensation",
            "the building crew cut through our water pipe",
        ],
        &["we want them to pay for the damage", "repairs cost several thousand yuan"],
    ),
    (
        "forest_land",
        &["两村为山林界线起争执", "承包的林地被人砍伐", "责任田边界被邻户占用", "荒山承包权属有争议", "土地流转租金没有按时支付"],
        &["界桩被人挪动过", "两家为此多次争吵"],
        &[
            "two villages dispute the boundary of the forest",
            "someone cut trees in the woodland we lease",
            "the neighbour has encroached on our farmland",
            "the rent for the transferred farmland was not paid",
        ],
        &["the boundary marker was moved", "the families have argued about it many times"],
    ),
    (
        "land_requisition",
        &["征地补偿款迟迟没有到位", "拆迁安置房一直没有交付", "拆迁补偿标准不公平", "强行拆除我家房屋", "征地后社保没有落实"],
        &["村民意见很大", "补偿标准没有公示"],
        &[
            "the compensation for the land requisition has not been paid",
            "the resettlement flat after demolition was never handed over",
            "the demolition compensation is unfair",
            "our house was demolished by force",
        ],
        &["the villagers are very unhappy", "the compensation rates were never published"],
    ),
    (
        "pollution",
        &["化工厂排放刺鼻废气", "养猪场污水直接排进河里", "工地扬尘很大", "工厂偷排污水河水发黑", "烧烤店油烟直排居民楼"],
        &["附近居民不敢开窗", "河里的鱼都死了"],
        &[
            "the chemical plant releases foul fumes",
            "the pig farm drains sewage straight into the river",
            "the factory secretly discharges waste water and the river turned black",
            "the barbecue shop blows smoke into our building",
        ],
        &["residents nearby cannot open their windows", "the fish in the river have died"],
    ),
    (
        "labour",
        &["老板拖欠工资三个月", "工地包工头欠薪跑路", "公司无故辞退不给补偿", "工伤后单位不给报销", "公司不给缴纳社保"],
        &["几十个工人都没拿到钱", "过年回家的路费都没有"],
        &[
            "the boss has not paid our wages for three months",
            "the foreman ran off without paying the workers",
            "the company fired me without compensation",
            "my employer will not cover my work injury",
        ],
        &["dozens of workers are unpaid", "we cannot even afford the trip home"],
    ),
    (
        "consumer",
        &["超市卖过期食品", "买的家电坏了商家不给退换", "健身房关门跑路预付卡无法退款", "网购商品是假货", "理发店办卡后乱收费"],
        &["商家态度很差", "发票和小票都保存着"],
        &[
            "the supermarket sells expired food",
            "the shop refuses to replace a faulty appliance",
            "the gym closed and the prepaid card cannot be refunded",
            "the goods I bought online are fake",
        ],
        &["the shop staff were rude", "I kept the receipt"],
    ),
    (
        "medical",
        &["手术后出现并发症医院推卸责任", "医院误诊耽误了治疗", "诊所收费不明", "医生用药不当导致过敏", "住院费用清单对不上"],
        &["家属要求医院给个说法", "病历资料医院不给复印"],
        &[
            "after surgery there were complications and the hospital denies responsibility",
            "the hospital misdiagnosed my father",
            "the clinic charges are not itemised",
            "the doctor prescribed the wrong medicine",
        ],
        &["the family wants an explanation", "the hospital will not copy the medical records"],
    ),
    (
        "traffic_accident",
        &["电动车与小轿车相撞", "被车撞伤后司机不赔偿", "两车刮擦双方对责任有争议", "三轮车撞倒老人", "停车时被倒车撞了"],
        &["交警已经出具了事故认定", "医药费还没有着落"],
        &[
            "an e-bike collided with a car",
            "the driver who hit me refuses to pay",
            "two cars scraped each other and we disagree on fault",
            "a tricycle knocked down an old man",
        ],
        &["the traffic police issued an accident report", "nobody has paid the medical bills"],
    ),
    (
        "property_management",
        &["物业费上涨不合理", "小区电梯经常坏物业不修", "物业不让业主查看维修基金账目", "小区停车位被物业乱收费", "物业保安态度恶劣"],
        &["业主群里大家意见很大", "物业公司一直拖着"],
        &[
            "the property fee rose without reason",
            "the lift is often broken and management does not repair it",
            "the property company hides the maintenance fund accounts",
            "management charges arbitrary parking fees",
        ],
        &["owners in the group chat are angry", "the management company keeps delaying"],
    ),
    (
        "other_dispute",
        &["同学聚会借的钱一直不还", "朋友之间为借款起纠纷", "亲戚之间为婚礼礼金起争执", "与网友的纠纷", "合伙买彩票中奖后分钱有争议"],
        &["双方都有聊天记录", "想请人居中调解"],
        &[
            "a friend borrowed money and never returned it",
            "relatives argue over wedding gift money",
            "we bought a lottery ticket together and disagree on the winnings",
        ],
        &["both sides have the chat records", "we would like someone to mediate"],
    ),
    (
        "road_damage",
        &["路面出现大坑", "村道塌陷", "人行道砖块松动", "下水道井盖缺失", "桥面开裂"],
        &["晚上骑车很危险", "已经有人摔倒了"],
        &[
            "there is a big pothole in the road",
            "the village road has collapsed",
            "paving stones on the pavement are loose",
            "a manhole cover is missing",
        ],
        &["it is dangerous to ride at night", "someone already fell"],
    ),
    (
        "street_light",
        &["路灯不亮", "整条街的路灯都坏了", "路灯一直闪烁", "小区路灯白天也亮着", "路灯杆倾斜"],
        &["晚上黑漆漆的", "老人晚上出门不方便"],
        &[
            "the street light is out",
            "all the street lights on the street are broken",
            "the street lamp keeps flickering",
            "the lamp post is leaning",
        ],
        &["it is pitch dark at night", "old people cannot go out at night"],
    ),
    (
        "sanitation",
        &["垃圾桶满了没人清运", "路边垃圾堆积发臭", "公共厕所很脏", "河道里漂满垃圾", "小区绿化带被乱倒建筑垃圾"],
        &["苍蝇蚊子很多", "味道很难闻"],
        &[
            "the bins are full and nobody collects them",
            "rubbish piles up by the road and stinks",
            "the public toilet is filthy",
            "construction waste is dumped in the green belt",
        ],
        &["there are flies everywhere", "the smell is terrible"],
    ),
    (
        "noise",
        &["夜间施工噪声扰民", "广场舞音响声音太大", "楼下酒吧深夜喧哗", "工厂机器轰鸣", "邻居家装修天天电钻响"],
        &["晚上根本睡不着", "孩子没法写作业"],
        &[
            "construction goes on at night and the noise is unbearable",
            "square dancing music is far too loud",
            "the bar downstairs is noisy late at night",
            "the factory machines roar all day",
        ],
        &["we cannot sleep at night", "the children cannot do homework"],
    ),
    (
        "water_supply",
        &["家里停水两天了", "自来水发黄有异味", "水压太低楼上没水", "供水管道爆裂", "水费计量不准"],
        &["做饭洗澡都成问题", "打供水公司电话没人接"],
        &[
            "we have had no water for two days",
            "the tap water is yellow and smells",
            "the water pressure is too low for the upper floors",
            "a water main has burst",
        ],
        &["we cannot cook or wash", "nobody answers at the water company"],
    ),
    (
        "illegal_construction",
        &["楼顶违规加盖房屋", "占用绿地私搭乱建", "一楼住户私自扩建院子", "河边违章建房", "小区内违建彩钢棚"],
        &["挡住了别人的采光", "存在安全隐患"],
        &[
            "someone added an illegal storey on the roof",
            "a shed was built on the public green",
            "the ground floor owner illegally extended the yard",
            "an unauthorised building went up by the river",
        ],
        &["it blocks the light for others", "it is a safety hazard"],
    ),
    (
        "public_security",
        &["小区附近有可疑人员徘徊", "夜里有人偷电动车", "网吧附近经常有人聚众赌博", "出租屋疑似有人吸毒", "路口有人非法摆摊收保护费"],
        &["居民都很担心安全", "希望加强巡逻"],
        &[
            "suspicious people hang around the estate",
            "e-bikes are stolen at night",
            "people gamble near the internet cafe",
            "someone collects protection money from stalls",
        ],
        &["residents worry about their safety", "please increase patrols"],
    ),
    (
        "fraud_report",
        &["接到冒充公检法的诈骗电话", "网上刷单被骗了钱", "冒充客服骗走银行卡里的钱", "投资理财平台跑路", "被网恋对象骗钱"],
        &["已经转账好几万元", "对方电话已经打不通"],
        &[
            "I got a call from someone pretending to be the police and transferred money",
            "I was cheated by a fake online order scheme",
            "a fake customer service agent emptied my bank card",
            "an investment platform vanished with our money",
        ],
        &["I already transferred tens of thousands", "the number no longer answers"],
    ),
    (
        "help_request",
        &["老人走失找不到了", "孩子放学没有回家", "独居老人家中无人应答", "钥匙锁在屋里进不去", "路边有人晕倒"],
        &["家人非常着急", "请尽快派人帮忙"],
        &[
            "my elderly father has gone missing",
            "my child did not come home after school",
            "an old man living alone does not answer the door",
            "someone collapsed by the roadside",
        ],
        &["the family is very worried", "please send someone quickly"],
    ),
    (
        "policy_consultation",
        &["想咨询医保报销政策", "请问低保怎么申请", "咨询孩子入学需要的材料", "想了解养老保险补缴政策", "咨询居住证办理流程"],
        &["在哪里办理", "需要带什么证件"],
        &[
            "how do I apply for the minimum living allowance",
            "what documents are needed to enrol my child in school",
            "I would like to know the medical insurance reimbursement rules",
            "how do I get a residence permit",
        ],
        &["where should I go", "which documents do I need"],
    ),
    (
        "complaint_staff",
        &["窗口工作人员态度恶劣", "办事人员推诿扯皮", "网格员上门服务不认真", "工作人员上班时间玩手机", "派出所办证拖了很久"],
        &["跑了好几趟都没办成", "希望领导管一管"],
        &[
            "the staff at the service window were rude",
            "the officials keep passing the buck",
            "the clerk played on his phone during work hours",
            "the grid worker did not take my problem seriously",
        ],
        &["I went several times and got nothing done", "I hope their supervisor deals with it"],
    ),
    (
        "other_request",
        &["建议在小区增设健身器材", "希望公交站增加班次", "建议开通社区食堂", "希望增加快递柜", "建议在路口增设红绿灯"],
        &["方便居民生活", "很多居民都有这个想法"],
        &[
            "please add fitness equipment in the estate",
            "we hope the bus runs more often",
            "please open a community canteen",
            "please add a traffic light at the junction",
        ],
        &["it would help residents", "many residents want this"],
    ),
];

const PLACES_ZH: &[&str] =
    &["幸福小区", "城南村", "人民路", "枫桥镇", "光明社区", "河西村", "新华街", "学府花园", "工业园区", "东湖村", "文化路", "滨江花园"];
const PLACES_EN: &[&str] = &[
    "Xingfu Estate",
    "Chengnan village",
    "People's Road",
    "Fengqiao town",
    "Guangming community",
    "Hexi village",
    "Xinhua Street",
    "Xuefu Gardens",
    "the industrial park",
    "Donghu village",
    "Culture Road",
    "Riverside Gardens",
];
const WHEN_ZH: &[&str] = &["最近", "这几天", "昨天晚上", "上个月开始", "今天早上", "一直以来"];
const WHEN_EN: &[&str] = &["recently", "for the past few days", "since last night", "since last month", "this morning", "for a long time"];
const DUR_ZH: &[&str] = &["一个星期", "半个月", "两个多月", "好几天", "快一年"];
const DUR_EN: &[&str] = &["a week", "two weeks", "over two months", "several days", "almost a year"];
const ASK_ZH: &[&str] =
    &["请尽快处理。", "希望有关部门管一管。", "请帮忙协调解决。", "麻烦尽快派人来看看。", "盼早日解决，谢谢！", "请给个答复。"];
const ASK_EN: &[&str] = &[
    "Please deal with it soon.",
    "I hope the authorities step in.",
    "Please help us sort it out.",
    "Please send someone to look.",
    "Thank you for your help.",
    "Please reply.",
];

fn pick<'a>(rng: &mut StdRng, v: &[&'a str]) -> &'a str {
    v.choose(rng).copied().unwrap_or("")
}

/// A labelled synthetic complaint.
#[derive(Debug, Clone, PartialEq)]
pub struct LabelledText {
    pub text: String,
    /// A built-in category code.
    pub label: &'static str,
}

/// The category codes the generator uses, in order.
pub fn category_codes() -> Vec<&'static str> {
    CATEGORIES.iter().map(|c| c.0).collect()
}

fn one(rng: &mut StdRng) -> LabelledText {
    let c = &CATEGORIES[rng.gen_range(0..CATEGORIES.len())];
    let other = &CATEGORIES[rng.gen_range(0..CATEGORIES.len())];
    let mention = rng.gen_bool(0.1);
    let text = if rng.gen_bool(0.6) {
        let place = format!("{}{}号", pick(rng, PLACES_ZH), rng.gen_range(1..40));
        let issue = pick(rng, c.1);
        let detail = pick(rng, c.2);
        let extra = if mention { format!("另外{}。", pick(rng, other.1)) } else { String::new() };
        match rng.gen_range(0..4) {
            0 => format!("{place}{}{issue}，{detail}，{extra}{}", pick(rng, WHEN_ZH), pick(rng, ASK_ZH)),
            1 => format!("我是{place}的居民，{issue}，已经{}了，{detail}。{extra}{}", pick(rng, DUR_ZH), pick(rng, ASK_ZH)),
            2 => format!("反映：{}{place}附近{issue}。{extra}{}", pick(rng, WHEN_ZH), pick(rng, ASK_ZH)),
            _ => format!("{issue}，{detail}。地址：{place}。{extra}{}", pick(rng, ASK_ZH)),
        }
    } else {
        let place = format!("{} no. {}", pick(rng, PLACES_EN), rng.gen_range(1..40));
        let issue = pick(rng, c.3);
        let detail = pick(rng, c.4);
        let extra = if mention { format!(" Also, {}.", pick(rng, other.3)) } else { String::new() };
        let cap = |s: &str| {
            let mut ch = s.chars();
            ch.next().map(|f| f.to_uppercase().collect::<String>() + ch.as_str()).unwrap_or_default()
        };
        match rng.gen_range(0..4) {
            0 => format!("{place}: {} {}, {detail}.{extra} {}", cap(issue), pick(rng, WHEN_EN), pick(rng, ASK_EN)),
            1 => format!("I live at {place}. {}, it has been {}; {detail}.{extra} {}", cap(issue), pick(rng, DUR_EN), pick(rng, ASK_EN)),
            2 => format!("Reporting that {issue} near {place}.{extra} {}", pick(rng, ASK_EN)),
            _ => format!("{}. {}. Address: {place}.{extra} {}", cap(issue), cap(detail), pick(rng, ASK_EN)),
        }
    };
    LabelledText { text, label: c.0 }
}

/// `n` labelled complaints, the same for the same seed.
pub fn labelled(n: usize, seed: u64) -> Vec<LabelledText> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..n).map(|_| one(&mut rng)).collect()
}

/// `n` texts of which about a quarter are edited copies of an earlier text: a few typos,
/// changed punctuation or spacing, full-width letters and digits, or an added sentence.
pub fn near_duplicates(n: usize, seed: u64) -> Vec<String> {
    let mut rng = StdRng::seed_from_u64(seed ^ 0xD0_D0);
    let mut out: Vec<String> = Vec::with_capacity(n);
    while out.len() < n {
        if out.is_empty() || !rng.gen_bool(0.25) {
            out.push(one(&mut rng).text);
            continue;
        }
        let src = out[rng.gen_range(out.len().saturating_sub(5000)..out.len())].clone();
        out.push(edit(&mut rng, &src));
    }
    out
}

fn edit(rng: &mut StdRng, src: &str) -> String {
    let mut chars: Vec<char> = src.chars().collect();
    for _ in 0..rng.gen_range(1..=3) {
        if chars.is_empty() {
            break;
        }
        let i = rng.gen_range(0..chars.len());
        match rng.gen_range(0..6) {
            0 => {
                chars.remove(i);
            }
            1 => chars.insert(i, pick(rng, &["的", "了", "a", "e", "，", " "]).chars().next().unwrap_or(' ')),
            2 => chars[i] = pick(rng, &["啊", "x", "o", "！", "。"]).chars().next().unwrap_or(' '),
            3 => {
                // Full-width forms, as typed with a Chinese input method; NFKC folds them back.
                for c in chars.iter_mut() {
                    if c.is_ascii_alphanumeric() {
                        *c = char::from_u32(*c as u32 - 0x21 + 0xFF01).unwrap_or(*c);
                    }
                }
            }
            4 => chars.extend(pick(rng, &["谢谢！", " Thanks!", "急！", " Urgent."]).chars()),
            _ => {
                for c in chars.iter_mut() {
                    *c = match *c {
                        '，' => ',',
                        '。' => '.',
                        '.' => '。',
                        x => x,
                    };
                }
            }
        }
    }
    chars.into_iter().collect()
}
