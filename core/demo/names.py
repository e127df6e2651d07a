"""Name tables of the demo patients, in their own scripts, with a Latin form for e-mails.

Each entry is ``(native, latin)``.  Chinese and Korean names are written family
name first without a space (李小明, 김민수); Russian and Ukrainian family names
take the feminine form where the language has one.
"""

from __future__ import annotations

Pair = tuple[str, str]

# -- Indonesia -------------------------------------------------------------------
ID_GIVEN_MALE: tuple[Pair, ...] = tuple(
    (n, n)
    for n in (
        "Budi", "Agus", "Andi", "Dedi", "Eko", "Hendra", "Joko", "Rudi", "Wayan", "Made",
        "Ketut", "Bambang", "Yusuf", "Rizky", "Fajar", "Arif", "Dimas", "Teguh", "Putu", "Ahmad",
    )
)  # fmt: skip
ID_GIVEN_FEMALE: tuple[Pair, ...] = tuple(
    (n, n)
    for n in (
        "Siti", "Dewi", "Sri", "Ayu", "Putri", "Rina", "Wulan", "Indah", "Nur", "Fitri",
        "Ratna", "Kadek", "Lestari", "Intan", "Maya", "Nyoman", "Ani", "Yuni", "Dian", "Eka",
    )
)  # fmt: skip
ID_FAMILY: tuple[Pair, ...] = tuple(
    (n, n)
    for n in (
        "Rahayu", "Santoso", "Wijaya", "Saputra", "Susanto", "Hidayat", "Pratama", "Kusuma",
        "Setiawan", "Nugroho", "Wibowo", "Lestari", "Suryani", "Purnomo", "Halim", "Gunawan",
        "Sudarsana", "Astuti", "Permana", "Hartono",
    )
)  # fmt: skip
#: share of Indonesians known by one name only (given name, no family name)
ID_MONONYM_SHARE = 0.12

# -- China -------------------------------------------------------------------------
CN_FAMILY: tuple[Pair, ...] = (
    ("李", "li"), ("王", "wang"), ("张", "zhang"), ("刘", "liu"), ("陈", "chen"),
    ("杨", "yang"), ("赵", "zhao"), ("黄", "huang"), ("周", "zhou"), ("吴", "wu"),
    ("徐", "xu"), ("孙", "sun"), ("胡", "hu"), ("朱", "zhu"), ("高", "gao"),
    ("林", "lin"), ("何", "he"), ("郭", "guo"), ("马", "ma"), ("罗", "luo"),
)  # fmt: skip
CN_GIVEN_MALE: tuple[Pair, ...] = (
    ("小明", "xiaoming"), ("伟", "wei"), ("强", "qiang"), ("磊", "lei"), ("军", "jun"),
    ("洋", "yang"), ("勇", "yong"), ("杰", "jie"), ("涛", "tao"), ("超", "chao"),
    ("志强", "zhiqiang"), ("建国", "jianguo"), ("浩然", "haoran"), ("子轩", "zixuan"),
)  # fmt: skip
CN_GIVEN_FEMALE: tuple[Pair, ...] = (
    ("芳", "fang"), ("娜", "na"), ("秀英", "xiuying"), ("敏", "min"), ("静", "jing"),
    ("丽", "li"), ("艳", "yan"), ("娟", "juan"), ("霞", "xia"), ("秀兰", "xiulan"),
    ("桂英", "guiying"), ("婷", "ting"), ("雨涵", "yuhan"), ("欣怡", "xinyi"),
)  # fmt: skip

# -- Korea -------------------------------------------------------------------------
KR_FAMILY: tuple[Pair, ...] = (
    ("김", "kim"), ("이", "lee"), ("박", "park"), ("최", "choi"), ("정", "jung"),
    ("강", "kang"), ("조", "cho"), ("윤", "yoon"), ("장", "jang"), ("임", "lim"),
    ("한", "han"), ("오", "oh"), ("서", "seo"), ("신", "shin"), ("권", "kwon"),
)  # fmt: skip
KR_GIVEN_MALE: tuple[Pair, ...] = (
    ("민수", "minsu"), ("지훈", "jihoon"), ("민준", "minjun"), ("서준", "seojun"),
    ("도윤", "doyoon"), ("현우", "hyunwoo"), ("영호", "youngho"), ("성민", "sungmin"),
    ("준호", "junho"), ("동현", "donghyun"), ("상우", "sangwoo"), ("재원", "jaewon"),
)  # fmt: skip
KR_GIVEN_FEMALE: tuple[Pair, ...] = (
    ("서연", "seoyeon"), ("지우", "jiwoo"), ("하은", "haeun"), ("수빈", "subin"),
    ("예은", "yeeun"), ("지민", "jimin"), ("은지", "eunji"), ("미경", "mikyung"),
    ("수진", "sujin"), ("영희", "younghee"), ("혜진", "hyejin"), ("유나", "yuna"),
)  # fmt: skip

# -- Russia --------------------------------------------------------------------------
RU_GIVEN_MALE: tuple[Pair, ...] = (
    ("Александр", "aleksandr"), ("Сергей", "sergey"), ("Дмитрий", "dmitriy"),
    ("Андрей", "andrey"), ("Алексей", "aleksey"), ("Иван", "ivan"), ("Михаил", "mikhail"),
    ("Николай", "nikolay"), ("Владимир", "vladimir"), ("Павел", "pavel"),
    ("Артём", "artyom"), ("Максим", "maksim"),
)  # fmt: skip
RU_GIVEN_FEMALE: tuple[Pair, ...] = (
    ("Ольга", "olga"), ("Наталья", "natalya"), ("Елена", "elena"), ("Татьяна", "tatyana"),
    ("Анна", "anna"), ("Мария", "mariya"), ("Екатерина", "ekaterina"),
    ("Светлана", "svetlana"), ("Ирина", "irina"), ("Юлия", "yuliya"), ("Дарья", "darya"),
    ("Ксения", "kseniya"),
)  # fmt: skip
#: (masculine, feminine, latin)
RU_FAMILY: tuple[tuple[str, str, str], ...] = (
    ("Иванов", "Иванова", "ivanov"), ("Смирнов", "Смирнова", "smirnov"),
    ("Кузнецов", "Кузнецова", "kuznetsov"), ("Попов", "Попова", "popov"),
    ("Соколов", "Соколова", "sokolov"), ("Лебедев", "Лебедева", "lebedev"),
    ("Козлов", "Козлова", "kozlov"), ("Новиков", "Новикова", "novikov"),
    ("Морозов", "Морозова", "morozov"), ("Петров", "Петрова", "petrov"),
    ("Волков", "Волкова", "volkov"), ("Соловьёв", "Соловьёва", "solovyov"),
    ("Васильев", "Васильева", "vasilyev"), ("Зайцев", "Зайцева", "zaytsev"),
)  # fmt: skip

# -- Ukraine ---------------------------------------------------------------------------
UA_GIVEN_MALE: tuple[Pair, ...] = (
    ("Сергій", "serhii"), ("Олександр", "oleksandr"), ("Андрій", "andrii"),
    ("Володимир", "volodymyr"), ("Дмитро", "dmytro"), ("Микола", "mykola"), ("Олег", "oleh"),
    ("Юрій", "yurii"), ("Тарас", "taras"), ("Богдан", "bohdan"), ("Остап", "ostap"),
)  # fmt: skip
UA_GIVEN_FEMALE: tuple[Pair, ...] = (
    ("Олена", "olena"), ("Наталія", "nataliia"), ("Оксана", "oksana"), ("Ірина", "iryna"),
    ("Тетяна", "tetiana"), ("Юлія", "yuliia"), ("Світлана", "svitlana"), ("Марія", "mariia"),
    ("Катерина", "kateryna"), ("Соломія", "solomiia"), ("Галина", "halyna"),
)  # fmt: skip
#: (masculine, feminine, latin); most Ukrainian family names do not change with sex
UA_FAMILY: tuple[tuple[str, str, str], ...] = (
    ("Коваленко", "Коваленко", "kovalenko"), ("Шевченко", "Шевченко", "shevchenko"),
    ("Бондаренко", "Бондаренко", "bondarenko"), ("Ткаченко", "Ткаченко", "tkachenko"),
    ("Кравченко", "Кравченко", "kravchenko"), ("Олійник", "Олійник", "oliinyk"),
    ("Шевчук", "Шевчук", "shevchuk"), ("Поліщук", "Поліщук", "polishchuk"),
    ("Бойко", "Бойко", "boiko"), ("Мельник", "Мельник", "melnyk"),
    ("Ковальський", "Ковальська", "kovalskyi"), ("Савчук", "Савчук", "savchuk"),
)  # fmt: skip

# -- English speakers ------------------------------------------------------------------
EN_GIVEN_MALE: tuple[Pair, ...] = tuple(
    (n, n.lower())
    for n in (
        "James", "Oliver", "William", "Jack", "Noah", "Thomas", "Liam", "Henry", "Daniel",
        "Samuel", "Lucas", "Ethan",
    )
)  # fmt: skip
EN_GIVEN_FEMALE: tuple[Pair, ...] = tuple(
    (n, n.lower())
    for n in (
        "Olivia", "Charlotte", "Amelia", "Emily", "Grace", "Chloe", "Sophie", "Isla", "Ruby",
        "Hannah", "Zoe", "Lily",
    )
)  # fmt: skip
EN_FAMILY: tuple[Pair, ...] = (
    ("Smith", "smith"), ("Johnson", "johnson"), ("Brown", "brown"), ("Taylor", "taylor"),
    ("Wilson", "wilson"), ("Thompson", "thompson"), ("O'Brien", "obrien"),
    ("MacDonald", "macdonald"), ("Walker", "walker"), ("White", "white"),
    ("Harris", "harris"), ("Clarke", "clarke"), ("Nguyen", "nguyen"), ("Murphy", "murphy"),
)  # fmt: skip
