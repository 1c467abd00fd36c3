//! A generated danmaku corpus: what live-comment rooms carry. Short
//! comments mixing CJK, emoji and Latin (laughter, reactions, questions,
//! numbers), a viewer's nickname and a colour, 30–120 bytes of JSON each.
//! Generated from fixed word lists with a seeded PRNG, so every run sends
//! the same messages; nothing is downloaded.

/// Reactions and phrases viewers repeat (each a few to ~30 bytes in UTF-8).
const PHRASES: &[&str] = &[
    "哈哈哈哈",
    "哈哈哈哈哈哈哈",
    "前方高能",
    "awsl",
    "666",
    "6666666",
    "yyds",
    "好耶",
    "泪目",
    "来了来了",
    "第一次看直播",
    "这也太强了吧",
    "主播加油",
    "笑死我了",
    "草",
    "wwwww",
    "草生える",
    "かわいい",
    "上手すぎ",
    "8888888",
    "lol",
    "LMAO",
    "gg",
    "W",
    "no way",
    "let's go",
    "clip it",
    "ㅋㅋㅋㅋ",
    "대박",
    "nice shot",
    "?",
    "？？？",
    "前排",
    "打卡",
    "弹幕护体",
    "高能预警",
    "名场面",
    "这波操作",
    "下次一定",
    "爷青回",
];

/// Emoji viewers add (4 bytes each in UTF-8, some with modifiers).
const EMOJI: &[&str] = &[
    "😂", "🤣", "😭", "👍", "🔥", "❤️", "👏", "😍", "🙏", "💯", "🎉", "😱", "🤔", "👀", "✨",
];

/// Nickname parts.
const NICK_A: &[&str] = &[
    "小", "阿", "Neko", "Mochi", "kira", "夜", "星", "Lucky", "Yuki", "橘", "白", "dark",
];
const NICK_B: &[&str] = &[
    "猫",
    "熊",
    "fan",
    "の人",
    "酱",
    "hunter",
    "君",
    "_official",
    "桑",
    "星人",
    "ya",
    "丸",
];

/// Colours danmaku players offer.
const COLORS: &[&str] = &[
    "#ffffff", "#ffffff", "#ffffff", "#fe0302", "#ffff00", "#00cd00", "#89d5ff", "#cc0273",
];

/// A small deterministic PRNG (xorshift64*): the corpus is the same every run.
pub struct Corpus {
    state: u64,
}

impl Corpus {
    pub fn new(seed: u64) -> Corpus {
        Corpus { state: seed | 1 }
    }

    fn next(&mut self) -> u64 {
        let mut x = self.state;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.state = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
        from[(self.next() % from.len() as u64) as usize]
    }

    /// The comment text: one or two phrases, sometimes emoji or a number.
    fn text(&mut self) -> String {
        let mut s = String::from(self.pick(PHRASES));
        let r = self.next() % 10;
        if r < 3 {
            s.push_str(self.pick(EMOJI));
            if r == 0 {
                s.push_str(self.pick(EMOJI));
            }
        } else if r < 5 {
            s.push(' ');
            s.push_str(self.pick(PHRASES));
        } else if r == 5 {
            s.push_str(&format!(" {}", self.next() % 1000));
        }
        s
    }

    /// The `data` of one comment, with the send time `t` (µs) first: a JSON
    /// object of 30–120 bytes, e.g.
    /// `{"t":123,"nick":"小猫","c":"#ffffff","m":0,"text":"哈哈哈哈😂"}`.
    pub fn comment(&mut self, t: u64) -> String {
        loop {
            let nick = format!("{}{}", self.pick(NICK_A), self.pick(NICK_B));
            let mode = u64::from(self.next() % 10 == 0); // 1: top, else scrolling
            let color = self.pick(COLORS);
            let text = self.text();
            let data = serde_json::json!({ "nick": nick, "c": color, "m": mode, "text": text });
            let rest = data.to_string();
            // `{"t":<t>,` + the rest without its `{`.
            let out = format!("{{\"t\":{t},{}", &rest[1..]);
            if (30..=120).contains(&out.len()) {
                return out;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn comments_are_small_varied_json_with_the_time_first() {
        let mut c = super::Corpus::new(7);
        let mut lens = Vec::new();
        let mut texts = std::collections::HashSet::new();
        for i in 0..1_000u64 {
            let s = c.comment(1_000_000 + i);
            let v: serde_json::Value = serde_json::from_str(&s).unwrap();
            assert_eq!(v["t"], 1_000_000 + i);
            assert!(s.starts_with("{\"t\":"));
            texts.insert(v["text"].as_str().unwrap().to_owned());
            lens.push(s.len());
        }
        assert!(lens.iter().all(|l| (30..=120).contains(l)));
        assert!(texts.len() > 200, "{} distinct texts", texts.len());
        assert!(texts.iter().any(|t| !t.is_ascii()));
        // The same seed, the same corpus.
        assert_eq!(
            super::Corpus::new(7).comment(5),
            super::Corpus::new(7).comment(5)
        );
    }
}
