/* placeholder */ typedef int pt_placeholder_mod_protime;
