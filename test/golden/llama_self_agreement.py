import numpy as np, llama_cpp
from llama_cpp import Llama
M='/root/.cache/llm/SmolLM2-135M-Instruct.Q4_1.gguf'
rows=[l.rstrip('\n').split('\t') for l in open('test/golden/generate.tsv')]
def greedy(cfg):
    kw=dict(n_ctx=2048,n_batch=512,n_threads=2,verbose=False); kw.update(cfg); llm=Llama(model_path=M,**kw)
    outs=[]
    for r in rows:
        t=[int(x) for x in r[2].split()]
        llm.reset(); llm.eval(t); g=[]
        for i in range(32):
            ptr=llama_cpp.llama_get_logits_ith(llm.ctx,-1); lg=np.ctypeslib.as_array(ptr,shape=(49152,))
            k=int(lg.argmax()); g.append(k); llm.eval([k])
        outs.append(g)
    return outs
gold=[[int(x) for x in r[3].split()] for r in rows]
for name,cfg in [('default',{}),('f32kv',dict(type_k=0,type_v=0)),('flash_attn',dict(flash_attn=True)),('batch1',dict(n_batch=1))]:
    o=greedy(cfg); same=sum(1 for a,b in zip(o,gold) if a==b)
    print(name, f'{same}/{len(gold)} identical to golden', flush=True)
