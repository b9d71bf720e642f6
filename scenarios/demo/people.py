"""Made-up people and companies whose numbers pass the real checks, fresh for every run.

ID numbers come from bangke_runtime.personal_data.make_id_number (region code, birth date, sequence
and the ISO 7064 MOD 11-2 check character); mobiles have 11 digits and start with 1; the unified
social credit code carries its GB 32100-2015 check character.
"""

import random
from dataclasses import dataclass
from datetime import date, timedelta

from bangke_runtime.personal_data import make_id_number, mask_id_number, mask_mobile

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华建国志红玉兰斌飞宇浩凯鹏辉鑫波宁俊峰博文晨阳昊然睿轩子豪思远嘉怡雨欣梓涵一诺"
# Region codes of real districts (Dongcheng in Beijing, Huangpu in Shanghai, Xihu in Hangzhou, ...).
REGION_CODES = ("110101", "310101", "330106", "320102", "440106", "420102", "510104", "370102")
CREDIT_CODE_CHARACTERS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_CREDIT_CODE_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


@dataclass(frozen=True)
class Person:
    name: str
    mobile: str
    id_number: str
    password: str


class People:
    """Hands out unique made-up people for one run; ``seed`` makes a run reproducible.

    Masked ID numbers and mobiles are unique too: the fault suite identifies people by what the
    services show, and a masked ID number keeps only 7 of 18 characters. With about 55 people a run,
    two of them shared one in about one run of seven (birthday estimate over about 10,000 values).
    """

    def __init__(self, seed: int) -> None:
        self._rng = random.Random(seed)
        self._names: set[str] = set()
        self._mobiles: set[str] = set()
        self._ids: set[str] = set()

    def person(self) -> Person:
        rng = self._rng
        while True:
            name = rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2))))
            if name not in self._names:
                break
        while True:
            # Second digit 3 to 9; 138 0000 is kept clear for the local operator account.
            mobile = "1" + rng.choice("3456789") + "".join(rng.choice("0123456789") for _ in range(9))
            if mask_mobile(mobile) not in self._mobiles and not mobile.startswith("138000"):
                break
        while True:
            birth = date(1972, 1, 1) + timedelta(days=rng.randrange(0, 365 * 28))
            id_number = make_id_number(rng.choice(REGION_CODES), birth, rng.randrange(1, 1000))
            if mask_id_number(id_number) not in self._ids:
                break
        self._names.add(name)
        self._mobiles.add(mask_mobile(mobile))
        self._ids.add(mask_id_number(id_number))
        password = "Bk" + "".join(rng.choice("abcdefghjkmnpqrstuvwxyz23456789") for _ in range(10)) + "7"
        return Person(name=name, mobile=mobile, id_number=id_number, password=password)

    def credit_code(self) -> str:
        body = "91" + "330106" + "".join(self._rng.choice(CREDIT_CODE_CHARACTERS) for _ in range(9))
        total = sum(CREDIT_CODE_CHARACTERS.index(c) * w for c, w in zip(body, _CREDIT_CODE_WEIGHTS, strict=True))
        return body + CREDIT_CODE_CHARACTERS[(31 - total % 31) % 31]

    def account_number(self) -> str:
        return "6222" + "".join(self._rng.choice("0123456789") for _ in range(15))

    def customer_mobile(self) -> str:
        return self.person().mobile
