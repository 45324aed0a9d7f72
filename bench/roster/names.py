"""Names for the generated county: people, townships, villages and communities."""

from __future__ import annotations

import random
from typing import Final


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


SURNAMES: Final = _words(
    "王 李 张 刘 陈 杨 黄 赵 吴 周 徐 孙 马 朱 胡 郭 何 高 林 罗 郑 梁 谢 宋 唐 许 韩 "
    "冯 邓 曹 彭 曾 肖 田 董 袁 潘 蒋 蔡 余 杜 叶 程 苏 魏 吕 丁 任 沈 姚 卢 傅 钟 汪 戴"
)

MALE_GIVEN: Final = _words(
    "建国 建华 建军 国强 国平 志刚 志明 志勇 海涛 海军 文斌 文华 永红 永胜 德明 德华 "
    "学军 学文 振宇 振华 宏伟 宏亮 晓东 晓峰 俊杰 卫东 长春 春生 立新 利民 "
    "军 勇 刚 斌 涛 峰 磊 亮 强 波 辉 平 华 明 杰 鹏 超 宇"
)

FEMALE_GIVEN: Final = _words(
    "秀英 桂兰 丽华 红梅 晓燕 海燕 春燕 玉兰 雪梅 丽娟 慧敏 美玲 凤英 彩霞 淑芬 素琴 "
    "芳 敏 静 燕 霞 玲 婷 慧 琴 萍 娟 梅 兰 洁 丹 琳"
)

# Well-known people, refused even when the lists happen to compose one.
FAMOUS: Final = frozenset(
    _words(
        "李强 李鹏 王毅 王勇 王刚 李勇 周涛 刘涛 黄磊 李健 张杰 林丹 王菲 李娜 刘翔 姚明 "
        "孙杨 王楠 陈红 张敏 李静 韩雪 杨颖 刘国梁 丁俊晖 王健林 张国强 张艺谋"
    )
)

FEMALE_SHARE: Final = 0.25

# Twenty townships: fifteen 镇/乡 and five 街道 (whose units are 社区, not 村).
TOWNSHIPS: Final = _words(
    "城关镇 东城街道 青石镇 柳河镇 双龙镇 西城街道 白马乡 长岭镇 石桥镇 凤凰街道 "
    "黄泥乡 大坪镇 桃源镇 南关街道 龙潭镇 清水乡 高峰镇 马场镇 新华街道 官渡镇"
)

VILLAGE_HEADS: Final = _words(
    "上 下 东 西 南 北 前 后 大 小 新 高 黄 石 柳 杨 桃 梅 竹 枫 松 岩 白 金 马 龙 凤 张 王 李"
)
VILLAGE_TAILS: Final = _words("溪 塘 山 岭 坑 湾 坞 桥 田 庄 源 坪 沟 坝 寨 堡 岗 铺")
COMMUNITY_HEADS: Final = _words("文 锦 春 清 和 兴 丰 望 康 安 福 瑞 嘉 华 新 民")
COMMUNITY_TAILS: Final = _words("昌 绣 晖 风 平 乐 江 宁 泰 苑 园 华")


class PersonNames:
    """Distinct plausible names, drawn from one random stream."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.used: set[str] = set()

    def next(self) -> str:
        while True:
            given = FEMALE_GIVEN if self.rng.random() < FEMALE_SHARE else MALE_GIVEN
            name = self.rng.choice(SURNAMES) + self.rng.choice(given)
            if name not in self.used and name not in FAMOUS:
                self.used.add(name)
                return name


def place_names(
    rng: random.Random, count: int, heads: tuple[str, ...], tails: tuple[str, ...], suffix: str
) -> list[str]:
    """`count` distinct names such as 柳塘村 or 文昌社区."""
    candidates = [head + tail + suffix for head in heads for tail in tails if head != tail]
    return rng.sample(candidates, count)
