"""Passwords too common to accept, whatever their length.

The entries of ten characters or more (shorter ones fail the length rule anyway) among the most frequent
passwords of public breach rankings, Chinese sites' leaks among them (5201314, woaini, a123456 variants),
plus the names of this system and its regions that people reach for first. Compared in lower case."""

from __future__ import annotations

_LISTED = """
    1234567890 0123456789 0987654321 9876543210 1234567891 12345678910 123456789a a123456789
    aa123456789 aaa123456789 abc1234567 abcd123456 abcde12345 abcdefghij 1qaz2wsx3edc 1q2w3e4r5t
    1q2w3e4r5t6y 1qaz2wsx3e qwertyuiop qwertyuiop1 qwerty1234 qwerty12345 qwerty123456 asdfghjkl1
    asdfghjkl; zxcvbnm123 zxcvbnm1234 1234qwer!@ 1234qwerasdf 12qwaszx12 qazwsxedc1 qazwsxedcrfv
    password12 password123 password1234 passw0rd12 p@ssw0rd12 p@ssword123 password!1 password01
    iloveyou12 iloveyou123 iloveyou1314 woaini1314 woaini5201314 woaini123456 woaini520 5201314520
    52013145201314 1314520520 13145201314 woshishui1 nihao123456 zhang123456 wang123456 li123456789
    aa12345678 abc12345678 abc123456789 a1234567890 a1b2c3d4e5 a1b2c3d4e5f6 111111111111 0000000000
    1111111111 2222222222 5555555555 6666666666 8888888888 9999999999 1212121212 1231231231
    1122334455 1234512345 1234554321 1357924680 1472583690 123123123123 123321123321 147258369a
    11223344556 7777777777 3333333333 4444444444 0101010101 1010101010 qqqqqqqqqq aaaaaaaaaa
    letmein123 welcome123 welcome1234 admin12345 admin123456 administrator root123456 test123456
    changeme123 default123 superman123 football123 baseball123 sunshine123 princess123 dragon1234
    monkey12345 master1234 shadow1234 michael123 jennifer123 trustno1234 starwars123 whatever123
    computer123 internet123 qwer123456 qwe1234567 asd1234567 zxc1234567 1234567qwe 123456qwer
    123456abc! 123456789q 1234567890q qwe123qwe123 asdasdasd1 zaq12wsxcde aidflow123 aidflow2026
    aidflow12345 dibao123456 dibao2026! minzheng123 minzheng2026 mzj1234567 shebao123456
    demo-2026! demo20262026 changeit123 anhui123456 hefei123456 beijing2008 zhongguo123 china12345
    chinese123 88888888888 66666666666 168168168168 5211314521 1314521521
"""
COMMON = frozenset(_LISTED.split())
